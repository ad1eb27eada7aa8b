/// The OpenAPI 3.1 description of every HTTP endpoint the server serves, served at `GET /openapi.yaml`.
///
/// Kept as a string constant so no resource bundling is needed. Ingest paths come from the configuration, so they
/// are documented once as the template `/{route}`. `OpenAPITests` checks that every route `buildApplication`
/// registers is described here and that the document validates.
public enum OpenAPIDocument {
    /// The document, as YAML.
    public static let yaml: String = #"""
        openapi: 3.1.0
        info:
          title: MessageBridge
          version: 0.1.0
          description: |
            MessageBridge accepts webhooks on configured routes, stores each durably (SQLite) and delivers it to an
            HTTP endpoint or a Kafka topic with retries. This document describes the ops endpoints, the admin API
            and the shape of an ingest route.

            Every response carries `X-Request-ID` (the client's, when it sent a sane one). Errors are JSON:
            `{"error": {"code": "...", "message": "..."}}`. Unknown paths answer `404 not_found`. When `rate_limits`
            is configured, any endpoint except `/health*` and `/metrics` may answer `429 rate_limited` with
            `Retry-After`.
        tags:
          - name: ingest
            description: Webhook routes; their paths come from the configuration (`routes[].path`).
          - name: ops
            description: Health, status, metrics and this document.
          - name: admin
            description: Stored messages and API keys. Needs `Authorization Bearer` with an admin key; a read key may use the GET endpoints.
        paths:
          /{route}:
            parameters:
              - name: route
                in: path
                required: true
                description: |
                  Stands for each configured route path (`routes[].path` in the configuration, e.g.
                  `/webhook/stripe`); the server has no route of its own at a fixed path here. Paths are matched
                  exactly and may contain several segments.
                schema:
                  type: string
                example: webhook/stripe
            post:
              tags: [ingest]
              operationId: ingestWebhook
              summary: Accept a webhook on a configured route
              description: |
                The exact body bytes and every header except credentials (`Authorization`, `Proxy-Authorization`,
                `Cookie`, the route's signature header, unless the route names it in `forward_credentials`) are
                stored durably before the answer. Routes with `verify` check the signature first (`401
                signature_invalid`); routes with `require_api_key` need a Bearer key of scope `ingest` or `admin`
                (`401 unauthorized`, `403 forbidden`); routes with `dedup` answer a repeated idempotency key with
                `200` and the original message. Any other method on a route answers `405 method_not_allowed` with
                `Allow: POST`. The path is matched in canonical form: empty segments and a trailing slash are
                ignored (`//webhook/stripe` is the route `/webhook/stripe`, with all of its checks).
              security:
                - {}
                - bearerAuth: []
              requestBody:
                required: false
                description: Any body up to `server.max_body_bytes`; stored and delivered byte for byte.
                content:
                  '*/*':
                    schema: {}
              responses:
                '202':
                  description: Stored durably; delivery follows.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/IngestAccepted'
                '200':
                  description: A repeated `dedup` key within its window; nothing was stored or will be delivered again.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/IngestDuplicate'
                '401':
                  description: '`signature_invalid` (the route''s `verify` failed) or `unauthorized` (a key is required and missing, unknown, expired or revoked).'
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Error'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '405':
                  description: '`method_not_allowed`: the route takes POST only.'
                  headers:
                    Allow:
                      schema:
                        type: string
                        const: POST
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Error'
                '413':
                  description: '`payload_too_large`: the body exceeds `server.max_body_bytes`.'
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Error'
                '429':
                  $ref: '#/components/responses/RateLimited'
                '431':
                  description: |
                    `headers_too_large`: the request head has too many (over 1000) or too large (over 80 KiB)
                    header fields; the connection is closed. Any endpoint may answer it.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Error'
                '503':
                  description: |
                    `store_unavailable`: the message could not be stored durably; retry later. Or
                    `too_many_connections` (with `Retry-After`): the server holds `server.max_connections`
                    connections; any endpoint may answer it, and the connection is closed.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Error'
          /health:
            get:
              tags: [ops]
              operationId: getHealth
              summary: Store check (a real write, reused for 2 s) and per-destination and Kafka state
              responses:
                '200':
                  description: Healthy or degraded.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Health'
                '503':
                  description: Unhealthy (the store is down, or the server is shutting down).
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Health'
          /health/live:
            get:
              tags: [ops]
              operationId: getLiveness
              summary: Liveness
              responses:
                '200':
                  description: The process runs.
                  content:
                    application/json:
                      schema:
                        type: object
                        properties:
                          status:
                            type: string
                            const: alive
                        required: [status]
          /health/ready:
            get:
              tags: [ops]
              operationId: getReadiness
              summary: Readiness
              responses:
                '200':
                  description: The store is writable and the server is not shutting down.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Readiness'
                '503':
                  description: Not ready; `reason` says why.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Readiness'
          /status:
            get:
              tags: [ops]
              operationId: getStatus
              summary: Version, node, uptime, routes, message counts, destinations, circuit breakers and Kafka
              description: |
                Destination URLs appear with userinfo and query string redacted. Limited to the networks in
                `status.allow` (else `403`); with `status.require_api_key`, needs an admin or read key.
              security:
                - {}
                - bearerAuth: []
              responses:
                '200':
                  description: The server's status.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Status'
                '401':
                  $ref: '#/components/responses/Unauthorized'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '503':
                  $ref: '#/components/responses/StoreUnavailable'
          /metrics:
            get:
              tags: [ops]
              operationId: getMetrics
              summary: Prometheus metrics
              description: |
                Served only when `metrics.enabled` (else `404`). Limited to the networks in `metrics.allow` (else
                `403`); with `metrics.require_api_key`, needs an admin or read key.
              security:
                - {}
                - bearerAuth: []
              responses:
                '200':
                  description: Prometheus text exposition format.
                  content:
                    text/plain:
                      schema:
                        type: string
                '401':
                  $ref: '#/components/responses/Unauthorized'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '404':
                  $ref: '#/components/responses/NotFound'
          /openapi.yaml:
            get:
              tags: [ops]
              operationId: getOpenAPIDocument
              summary: This document
              responses:
                '200':
                  description: The OpenAPI 3.1 document, as YAML.
                  content:
                    application/yaml:
                      schema:
                        type: string
          /api/v1/admin/messages:
            get:
              tags: [admin]
              operationId: listMessages
              summary: List stored messages, newest first
              security:
                - bearerAuth: []
              parameters:
                - name: status
                  in: query
                  required: false
                  description: Only messages in this status.
                  schema:
                    $ref: '#/components/schemas/MessageStatus'
                - name: limit
                  in: query
                  required: false
                  description: Page size.
                  schema:
                    type: integer
                    minimum: 1
                    maximum: 1000
                    default: 50
                - name: before
                  in: query
                  required: false
                  description: A stored message id; the page starts after it (use the previous page's `next_before`).
                  schema:
                    type: string
              responses:
                '200':
                  description: One page of messages.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/MessageList'
                '400':
                  $ref: '#/components/responses/BadRequest'
                '401':
                  $ref: '#/components/responses/Unauthorized'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '503':
                  $ref: '#/components/responses/StoreUnavailable'
          /api/v1/admin/messages/retry-failed:
            post:
              tags: [admin]
              operationId: retryFailedMessages
              summary: Make every failed message due now
              security:
                - bearerAuth: []
              responses:
                '200':
                  description: How many messages were retried.
                  content:
                    application/json:
                      schema:
                        type: object
                        properties:
                          retried:
                            type: integer
                            minimum: 0
                        required: [retried]
                '401':
                  $ref: '#/components/responses/Unauthorized'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '503':
                  $ref: '#/components/responses/StoreUnavailable'
          /api/v1/admin/messages/{id}:
            parameters:
              - $ref: '#/components/parameters/MessageID'
            get:
              tags: [admin]
              operationId: getMessage
              summary: One message with body, headers and every attempt
              security:
                - bearerAuth: []
              responses:
                '200':
                  description: The message.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/MessageDetail'
                '401':
                  $ref: '#/components/responses/Unauthorized'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '404':
                  $ref: '#/components/responses/NotFound'
                '503':
                  $ref: '#/components/responses/StoreUnavailable'
          /api/v1/admin/messages/{id}/retry:
            parameters:
              - $ref: '#/components/parameters/MessageID'
            post:
              tags: [admin]
              operationId: retryMessage
              summary: Make a failed or retrying message due now with a fresh attempt budget
              security:
                - bearerAuth: []
              responses:
                '200':
                  description: The message is pending again.
                  content:
                    application/json:
                      schema:
                        type: object
                        properties:
                          message_id:
                            type: string
                          status:
                            type: string
                            const: pending
                        required: [message_id, status]
                '401':
                  $ref: '#/components/responses/Unauthorized'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '404':
                  $ref: '#/components/responses/NotFound'
                '409':
                  $ref: '#/components/responses/Conflict'
                '503':
                  $ref: '#/components/responses/StoreUnavailable'
          /api/v1/admin/keys:
            get:
              tags: [admin]
              operationId: listKeys
              summary: Every API key (no secrets, no hashes)
              security:
                - bearerAuth: []
              responses:
                '200':
                  description: The keys, newest first.
                  content:
                    application/json:
                      schema:
                        type: object
                        properties:
                          keys:
                            type: array
                            items:
                              $ref: '#/components/schemas/APIKey'
                        required: [keys]
                '401':
                  $ref: '#/components/responses/Unauthorized'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '503':
                  $ref: '#/components/responses/StoreUnavailable'
            post:
              tags: [admin]
              operationId: createKey
              summary: Create an API key; its secret is shown once
              security:
                - bearerAuth: []
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      properties:
                        name:
                          type: string
                          description: 1 to 200 characters once surrounding whitespace is trimmed.
                          minLength: 1
                          maxLength: 200
                          pattern: '\S'
                        scope:
                          description: 'What the key may do; `admin` when absent or `null`.'
                          anyOf:
                            - $ref: '#/components/schemas/APIKeyScope'
                            - type: 'null'
                        expires_in:
                          description: |
                            How long the key works, a positive duration such as `30s`, `24h` or `90d`
                            (`400 invalid_duration` otherwise). Absent or `null`: the key never expires.
                          anyOf:
                            - $ref: '#/components/schemas/PositiveDuration'
                            - type: 'null'
                          example: 90d
                      required: [name]
              responses:
                '201':
                  description: The new key with its `secret`.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/IssuedAPIKey'
                '400':
                  $ref: '#/components/responses/BadRequest'
                '401':
                  $ref: '#/components/responses/Unauthorized'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '503':
                  $ref: '#/components/responses/StoreUnavailable'
          /api/v1/admin/keys/{id}:
            parameters:
              - $ref: '#/components/parameters/KeyReference'
            delete:
              tags: [admin]
              operationId: revokeKey
              summary: Revoke an API key
              security:
                - bearerAuth: []
              responses:
                '200':
                  description: The revoked key.
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/APIKey'
                '400':
                  $ref: '#/components/responses/BadRequest'
                '401':
                  $ref: '#/components/responses/Unauthorized'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '404':
                  $ref: '#/components/responses/NotFound'
                '409':
                  $ref: '#/components/responses/Conflict'
                '503':
                  $ref: '#/components/responses/StoreUnavailable'
          /api/v1/admin/keys/{id}/rotate:
            parameters:
              - $ref: '#/components/parameters/KeyReference'
            post:
              tags: [admin]
              operationId: rotateKey
              summary: Issue a new key for an active one; the old secret keeps working for the grace period
              security:
                - bearerAuth: []
              requestBody:
                required: false
                content:
                  application/json:
                    schema:
                      type: object
                      properties:
                        grace:
                          description: |
                            How long the old secret stays valid (never beyond its own expiry), a duration such as
                            `24h` or `0s` (`400 invalid_duration` otherwise). Absent or `null`: `24h`.
                          anyOf:
                            - $ref: '#/components/schemas/Duration'
                            - type: 'null'
                          default: 24h
                          example: 1h
              responses:
                '201':
                  description: The new key with its `secret`, and until when the old one is valid.
                  content:
                    application/json:
                      schema:
                        allOf:
                          - $ref: '#/components/schemas/IssuedAPIKey'
                          - type: object
                            properties:
                              old_key_valid_until:
                                type: string
                                format: date-time
                            required: [old_key_valid_until]
                '400':
                  $ref: '#/components/responses/BadRequest'
                '401':
                  $ref: '#/components/responses/Unauthorized'
                '403':
                  $ref: '#/components/responses/Forbidden'
                '404':
                  $ref: '#/components/responses/NotFound'
                '409':
                  $ref: '#/components/responses/Conflict'
                '503':
                  $ref: '#/components/responses/StoreUnavailable'
        components:
          securitySchemes:
            bearerAuth:
              type: http
              scheme: bearer
              description: |
                An API key (`mb_` + base64url), made by `messagebridge keys create` or `POST /api/v1/admin/keys`.
                Scopes: `admin` (everything), `read` (admin GET endpoints, metrics), `ingest` (routes with
                `require_api_key`).
          parameters:
            MessageID:
              name: id
              in: path
              required: true
              description: A message id, as returned in `message_id`.
              schema:
                type: string
            KeyReference:
              name: id
              in: path
              required: true
              description: A key's id, a unique start of its id, or its display prefix (`mb_Xq3v9TzA`).
              schema:
                type: string
          responses:
            BadRequest:
              description: |
                Bad input, named by the code: `invalid_status`, `invalid_limit`, `invalid_before`, `invalid_scope`,
                `invalid_duration`, `invalid_json`, `invalid_input`.
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/Error'
            Unauthorized:
              description: '`unauthorized`: the Bearer key is missing, unknown, expired or revoked.'
              headers:
                WWW-Authenticate:
                  schema:
                    type: string
                    const: Bearer
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/Error'
            Forbidden:
              description: '`forbidden`: the key''s scope does not allow this, or the client address is not allowed.'
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/Error'
            NotFound:
              description: '`not_found`, `message_not_found` or `key_not_found`.'
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/Error'
            Conflict:
              description: |
                `not_retryable` (the message is not failed or retrying), `key_ambiguous` (a key reference matching
                several keys) or `key_not_active` (the key is revoked, expired or already rotated).
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/Error'
            RateLimited:
              description: '`rate_limited`: over a configured rate limit.'
              headers:
                Retry-After:
                  description: Seconds to wait.
                  schema:
                    type: integer
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/Error'
            StoreUnavailable:
              description: '`store_unavailable` or `internal_error`: the store cannot be read or written now.'
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/Error'
          schemas:
            Error:
              type: object
              properties:
                error:
                  type: object
                  properties:
                    code:
                      type: string
                      description: Stable and machine-readable, e.g. `payload_too_large`.
                    message:
                      type: string
                      description: Human-readable; names the problem.
                  required: [code, message]
              required: [error]
            IngestAccepted:
              type: object
              properties:
                message_id:
                  type: string
                status:
                  type: string
                  const: accepted
                timestamp:
                  type: string
                  format: date-time
              required: [message_id, status, timestamp]
            IngestDuplicate:
              type: object
              description: The original message's id and acceptance time.
              properties:
                message_id:
                  type: string
                status:
                  type: string
                  const: duplicate
                timestamp:
                  type: string
                  format: date-time
              required: [message_id, status, timestamp]
            MessageStatus:
              type: string
              enum: [pending, delivering, retrying, delivered, failed]
            MessageFields:
              type: object
              description: What every view of a message shows.
              properties:
                message_id:
                  type: string
                route:
                  type: string
                destination:
                  type: string
                status:
                  $ref: '#/components/schemas/MessageStatus'
                accepted_at:
                  type: string
                  format: date-time
                updated_at:
                  type: string
                  format: date-time
                body_bytes:
                  type: integer
                next_attempt_at:
                  type: string
                  format: date-time
                delivered_at:
                  type: string
                  format: date-time
                last_error:
                  type: string
                last_status_code:
                  type: integer
              required: [message_id, route, destination, status, accepted_at, updated_at, body_bytes]
            MessageSummary:
              allOf:
                - $ref: '#/components/schemas/MessageFields'
                - type: object
                  properties:
                    attempts:
                      type: integer
                      minimum: 0
                      description: How many delivery attempts have finished.
                  required: [attempts]
            MessageList:
              type: object
              properties:
                messages:
                  type: array
                  items:
                    $ref: '#/components/schemas/MessageSummary'
                count:
                  type: integer
                next_before:
                  type: string
                  description: Present when the page is full; pass it as `before` for the next page.
              required: [messages, count]
            MessageDetail:
              allOf:
                - $ref: '#/components/schemas/MessageFields'
                - type: object
                  properties:
                    headers:
                      type: array
                      items:
                        type: object
                        properties:
                          name:
                            type: string
                          value:
                            type: string
                        required: [name, value]
                    body:
                      type: string
                      description: The body, when it is UTF-8.
                    body_base64:
                      type: string
                      description: The body, base64, when it is not UTF-8.
                    attempts:
                      type: array
                      description: Every finished delivery attempt, oldest first.
                      items:
                        type: object
                        properties:
                          number:
                            type: integer
                          finished_at:
                            type: string
                            format: date-time
                          outcome:
                            type: string
                          duration_seconds:
                            type: number
                          status_code:
                            type: integer
                          error:
                            type: string
                        required: [number, finished_at, outcome, duration_seconds]
                  required: [headers, attempts]
            Duration:
              type: string
              description: |
                Up to ten numbers, each followed by a unit, added up: `ms`, `s`, `m`, `h` or `d` (`500ms`, `30s`,
                `1h30m`, `1.5h`, `90d`). Each number has up to 6 digits, and up to 3 decimals except before `ms`.
              pattern: '^([0-9]{1,6}(\.[0-9]{1,3})?(s|m|h|d)|[0-9]{1,6}ms){1,10}$'
              example: 24h
            PositiveDuration:
              type: string
              description: A `Duration` with a digit other than 0 in it, so at least `1ms`.
              pattern: '^(?=[^1-9]*[1-9])([0-9]{1,6}(\.[0-9]{1,3})?(s|m|h|d)|[0-9]{1,6}ms){1,10}$'
              example: 90d
            APIKeyScope:
              type: string
              enum: [admin, ingest, read]
              default: admin
            APIKey:
              type: object
              properties:
                id:
                  type: string
                name:
                  type: string
                scope:
                  $ref: '#/components/schemas/APIKeyScope'
                prefix:
                  type: string
                  description: The display prefix, e.g. `mb_Xq3v9TzA`.
                status:
                  type: string
                  enum: [active, expired, revoked]
                created_at:
                  type: string
                  format: date-time
                expires_at:
                  type: [string, 'null']
                  format: date-time
                last_used_at:
                  type: [string, 'null']
                  format: date-time
                revoked_at:
                  type: [string, 'null']
                  format: date-time
                replaced_by:
                  type: string
                  description: The id of the key that replaced this one by rotation.
              required: [id, name, scope, prefix, status, created_at, expires_at, last_used_at, revoked_at]
            IssuedAPIKey:
              allOf:
                - $ref: '#/components/schemas/APIKey'
                - type: object
                  properties:
                    secret:
                      type: string
                      description: The key itself; shown only in this response.
                  required: [secret]
            ComponentState:
              type: object
              description: A destination's or Kafka's state.
              properties:
                status:
                  type: string
                  description: '`ok`/`failing` for destinations; `up`/`down`/`unknown` for the store and Kafka.'
              required: [status]
              additionalProperties: true
            Health:
              type: object
              properties:
                status:
                  type: string
                  enum: [healthy, degraded, unhealthy]
                version:
                  type: string
                components:
                  type: object
                  properties:
                    store:
                      $ref: '#/components/schemas/ComponentState'
                    destinations:
                      type: object
                      additionalProperties:
                        $ref: '#/components/schemas/ComponentState'
                    kafka:
                      $ref: '#/components/schemas/ComponentState'
                  required: [store, destinations]
              required: [status, version, components]
            Readiness:
              type: object
              properties:
                status:
                  type: string
                  enum: [ready, not_ready]
                reason:
                  type: string
              required: [status]
            Status:
              type: object
              properties:
                version:
                  type: string
                node_id:
                  type: string
                started_at:
                  type: string
                  format: date-time
                uptime_seconds:
                  type: integer
                routes:
                  type: array
                  items:
                    type: object
                    properties:
                      path:
                        type: string
                      destination:
                        type: string
                    required: [path, destination]
                messages:
                  type: object
                  description: Message counts by status.
                  additionalProperties:
                    type: integer
                oldest_pending_age_seconds:
                  type: [number, 'null']
                destinations:
                  type: object
                  additionalProperties:
                    $ref: '#/components/schemas/ComponentState'
                circuit_breakers:
                  type: object
                  additionalProperties:
                    type: string
                    enum: [closed, open, half_open]
                kafka:
                  oneOf:
                    - $ref: '#/components/schemas/ComponentState'
                    - type: 'null'
              required: [version, node_id, started_at, uptime_seconds, routes, messages, oldest_pending_age_seconds, destinations, circuit_breakers, kafka]

        """#
}
