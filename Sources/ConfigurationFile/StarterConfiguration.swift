/// The commented configuration `messagebridge init` writes.
public enum StarterConfiguration {
    /// The file's text. It runs as it is: the example route delivers to a local HTTP endpoint.
    public static let text = """
        # MessageBridge configuration. Durations: 500ms, 30s, 5m, 1h, 7d.
        # Values may reference the environment as ${NAME}; MESSAGEBRIDGE_KAFKA_SASL_PASSWORD,
        # MESSAGEBRIDGE_REMOTE_URL, MESSAGEBRIDGE_SERVER_PORT, ... override the matching keys.

        server:
          host: "0.0.0.0"
          port: 8080
          max_body_bytes: 1048576     # larger bodies get 413
          shutdown_timeout: 30s       # grace for in-flight requests and deliveries on SIGTERM

        # Each route accepts POSTs and delivers to, in order of precedence:
        #   its own `destination` URL, else the global `remote_url`, else the Kafka topic in `queue`.
        routes:
          - path: "/webhook/payment"
            queue: "payment-events"
            destination: "http://127.0.0.1:9000/hooks/payment"
            # verify:                      # reject unsigned or tampered requests with 401
            #   scheme: stripe             # hmac | stripe | github | standard-webhooks | rsa
            #   secret: "${STRIPE_WEBHOOK_SECRET}"
            #   tolerance: 5m
            # dedup:                       # a resent webhook is stored once; duplicates get 200 + the original id
            #   json_field: "id"           # or header: "webhook-id"
            #   window: 24h
            # kafka_key:                   # Kafka record key (default: the message id)
            #   json_field: "id"
            # require_api_key: true        # POSTs need an ingest or admin key (messagebridge keys create)

        # kafka:
        #   brokers: ["localhost:9092"]
        #   security_protocol: "PLAINTEXT"   # SSL, SASL_PLAINTEXT, SASL_SSL
        #   timeout: 30s

        sqlite:
          database_path: "./data/messagebridge.db"

        # remote_url:                  # replaces Kafka for routes without their own destination
        #   url: "https://api.example.com/webhooks"
        #   timeout: 30s
        #   retries: 0                 # immediate extra tries inside one attempt

        worker:
          retry_interval: 30s          # longest pause between looks for due messages
          batch_size: 50               # messages claimed per look
          max_retries: 0               # failed attempts before a message is failed; 0 = retry forever
          initial_backoff: 5s          # doubles after each failure, with jitter
          max_backoff: 1h
          concurrency: 128             # deliveries in flight on this node
          delivered_retention: 7d      # delivered messages are purged after this

        logging:
          level: info                  # LOG_LEVEL overrides
          format: json

        circuit_breaker:               # one per destination; deliveries are deferred while open
          failure_threshold: 5
          open_timeout: 60s
          success_threshold: 2

        # rate_limits:                 # absent = no limiting
        #   per_ip: { limit: 100, period: 1s, burst: 1000 }
        #   trusted_proxies: ["127.0.0.1/32"]

        # metrics:                     # GET /metrics in Prometheus text format
        #   allow: ["127.0.0.1/32"]
        #   require_api_key: false

        # webhooks:                    # event webhooks out (messagebridge endpoints create --url ...)
        #   allow_networks: []         # internal networks endpoints may resolve to, e.g. ["10.0.0.0/8"]
        #   retry_schedule: [5s, 5m, 30m, 2h, 5h, 10h, 10h]
        #   timeout: 15s
        #   disable_after: 5d          # an endpoint failing this long is disabled

        """
}
