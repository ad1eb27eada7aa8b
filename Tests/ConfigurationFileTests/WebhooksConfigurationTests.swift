import ConfigurationFile
import Core
import Testing

@Suite("webhooks configuration")
struct WebhooksConfigurationTests {
    @Test("defaults are the published schedule; every key is read; MESSAGEBRIDGE_WEBHOOKS_ALLOW_NETWORKS replaces the list")
    func webhooksSection() throws {
        let defaults = try ConfigurationLoader(environment: [:]).parse(yaml: "server:\n  port: 8080\n").webhooks
        #expect(defaults.retrySchedule == [.seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18_000), .seconds(36_000), .seconds(36_000)])
        #expect(defaults.timeout == .seconds(15) && defaults.disableAfter == .seconds(432_000) && defaults.allowNetworks.isEmpty)

        let yaml = """
            webhooks:
              allow_networks: ["127.0.0.0/8", "::1"]
              retry_schedule: [1s, 2m]
              retry_jitter: 0.2
              retry_after_max: 10m
              timeout: 3s
              disable_after: 1d
              disable_after_failures: 20
              rotation_grace: 1h
              concurrency: 16
              max_in_flight_per_endpoint: 2
              response_excerpt_bytes: 64
              poll_interval: 200ms
            """
        let settings = try ConfigurationLoader(environment: [:]).parse(yaml: yaml).webhooks
        #expect(settings.allowNetworks.map(\.description) == ["127.0.0.0/8", "0:0:0:0:0:0:0:1/128"])
        #expect(settings.retrySchedule == [.seconds(1), .seconds(120)] && settings.retryJitter == 0.2)
        #expect(settings.retryAfterMax == .seconds(600) && settings.timeout == .seconds(3) && settings.disableAfter == .seconds(86_400))
        #expect(settings.disableAfterFailures == 20 && settings.rotationGrace == .seconds(3600))
        #expect(settings.concurrency == 16 && settings.maxInFlightPerEndpoint == 2 && settings.responseExcerptBytes == 64)
        #expect(settings.pollInterval == .milliseconds(200))

        let overridden = try ConfigurationLoader(environment: ["MESSAGEBRIDGE_WEBHOOKS_ALLOW_NETWORKS": "10.0.0.0/8, 192.168.0.0/16"]).parse(yaml: yaml).webhooks
        #expect(overridden.allowNetworks.map(\.description) == ["10.0.0.0/8", "192.168.0.0/16"])
    }

    @Test("bad webhooks values name their key")
    func badValues() {
        let yaml = """
            webhooks:
              allow_networks: ["not-a-network"]
              retry_schedule: [5s, soon]
              retry_jitter: 2
              timeout: 0s
              concurrency: 0
              max_in_flight: 3
            """
        do {
            _ = try ConfigurationLoader(environment: [:]).parse(yaml: yaml)
            Issue.record("bad webhooks settings were accepted")
        } catch {
            #expect(Set(error.problems.map(\.key)) == [
                "webhooks.allow_networks[0]", "webhooks.retry_schedule[1]", "webhooks.retry_jitter", "webhooks.timeout",
                "webhooks.concurrency", "webhooks.max_in_flight",
            ])
        }
    }
}

@Suite("backup configuration")
struct BackupConfigurationTests {
    @Test("backup: off by default; interval, directory and keep are read; bad values and a missing interval name their key")
    func backupSection() throws {
        #expect(try ConfigurationLoader(environment: [:]).parse(yaml: "server:\n  port: 1\n").backup.interval == nil)
        let settings = try ConfigurationLoader(environment: [:]).parse(yaml: "backup:\n  interval: 6h\n  directory: /var/backups/mb\n  keep: 3\n").backup
        #expect(settings.interval == .seconds(21_600) && settings.directory == "/var/backups/mb" && settings.keep == 3)
        do {
            _ = try ConfigurationLoader(environment: [:]).parse(yaml: "backup:\n  keep: 0\n  every: 1h\n")
            Issue.record("bad backup settings were accepted")
        } catch {
            #expect(Set(error.problems.map(\.key)) == ["backup.keep", "backup.every", "backup.interval"])
        }
    }
}
