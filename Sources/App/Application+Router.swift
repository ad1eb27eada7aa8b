import ConfigurationFile
import Core
import Foundation
import Hummingbird
import Logging

/// Step 3 of the composition root: the router. Middleware in the order every request meets it (canonical path
/// first, so every later check sees the path the router dispatched on), then one controller per feature.
func makeRouter(
    configuration: MessageBridgeConfiguration,
    routes: [IngestController.Route],
    store: any MessageStore,
    delivery: Delivery,
    chat: Chat,
    events: EventWebhooks,
    apiKeys: APIKeyManager,
    metrics: AppMetrics,
    isShuttingDown: @escaping @Sendable () -> Bool,
    clock: any WallClock
) throws -> Router<AppRequestContext> {
    let keyAuthenticator = APIKeyAuthenticator(manager: apiKeys)
    let router = Router(context: AppRequestContext.self)
    // First: every later middleware and handler sees the path the router dispatched on.
    router.middlewares.add(CanonicalPathMiddleware())
    router.middlewares.add(HTTPMetricsMiddleware(metrics: metrics))
    router.middlewares.add(RequestIDMiddleware())
    if let cors = configuration.cors { router.middlewares.add(CORSMiddleware(settings: cors)) }
    router.middlewares.add(ErrorMiddleware())
    let routeMethods = RouteMethods()
    router.middlewares.add(MethodNotAllowedMiddleware(routes: routeMethods))
    if let rateLimiter = try RateLimitMiddleware(settings: configuration.rateLimits, routePaths: routes.map(\.path), clock: clock) {
        router.middlewares.add(rateLimiter)
    }
    let keyProtectedPaths = configuration.routes.filter(\.requiresAPIKey).map(\.path)
    if !keyProtectedPaths.isEmpty {
        router.middlewares.add(IngestAuthMiddleware(authenticator: keyAuthenticator, protectedPaths: keyProtectedPaths))
    }
    // One route collection per feature, mounted at its path.
    let ingest = IngestController(
        routes: routes,
        maxBodyBytes: configuration.server.maxBodyBytes,
        intake: delivery.intake,
        clock: clock
    )
    let statusGuard = EndpointGuard(access: configuration.status, authenticator: keyAuthenticator, section: "status")
    let health = HealthController(
        store: store,
        routes: routes,
        destinationHealth: delivery.dispatcher.destinationHealth,
        breakers: delivery.breakers,
        kafkaProducer: delivery.kafkaProducer,
        startedAt: clock.now,
        clock: clock,
        nodeID: delivery.dispatcher.owner,
        isShuttingDown: isShuttingDown,
        statusGuard: statusGuard,
        storeProbe: StoreHealthProbe { try await store.checkHealth() }
    )
    let admin = AdminController(
        store: store, keys: apiKeys, authenticator: keyAuthenticator, retryWakeup: delivery.dueWork,
        credentials: delivery.credentialsByRoute
    )
    let metricsEndpoint = MetricsController(settings: configuration.metrics, metrics: metrics, store: store, authenticator: keyAuthenticator)
    router.addRoutes(ingest.endpoints)
    router.addRoutes(health.endpoints)
    router.addRoutes(admin.endpoints, atPath: RouterPath(AdminController.mountPath))
    router.addRoutes(
        EndpointsController(manager: events.manager, authenticator: keyAuthenticator).endpoints,
        atPath: RouterPath(EndpointsController.mountPath)
    )
    router.addRoutes(metricsEndpoint.endpoints)
    router.addRoutes(OpenAPIController().endpoints)
    router.addRoutes(WebClientController().endpoints)
    chat.addRoutes(to: router, statusGuard: statusGuard)
    routeMethods.load(from: router)
    // Tests that hold the OpenAPI document to the served routes read them here (a no-op in a real server).
    ServedRouteRecorder.current?.record(router)
    return router
}
