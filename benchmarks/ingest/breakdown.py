#!/usr/bin/env python3
"""Per-stage CPU breakdown of a `perf record -g` profile of MessageBridge (or the plain-Hummingbird baseline).

Usage: breakdown.py PERF_SCRIPT_TEXT US_PER_REQUEST [--unattributed N]
  PERF_SCRIPT_TEXT: `perf script -F comm,tid,period,ip,sym,dso | swift-demangle --simplified` output
  US_PER_REQUEST:   the server's CPU per request in the same run (from /proc, printed by run.sh)

Each sample goes to the stage of the innermost frame that matches a rule below (so a malloc or a retain is charged
to the stage that called it), or, when no frame matches, to "other: <thread>". Rules are tried in order for each
frame, from the leaf outwards. Symbols are demangled and simplified; identical-code folding in the release build
makes some NIO pass-through symbols carry another function's name, so those are never rules. Also prints the
self time of runtime work (retain/release, allocation, generic metadata, task switching, futex) across all
stages, which is where several stages spend most of their time.
"""
import collections
import re
import sys

# (stage, thread regex or None, frame regex). Order matters within a frame.
RULES = [
    # --- commit thread: one transaction per batch of waiting requests
    ("commit: fdatasync (kernel)", r"^commit$", r"^fdatasync$|__x64_sys_fdatasync|^do_fsync"),
    ("commit: WAL pwrite (kernel)", r"^commit$", r"__libc_pwrite|__x64_sys_pwrite"),
    ("commit: resume waiters (wake-up)", r"^commit$", r"UnsafeContinuation\.resume|swift_continuation_resume|swift_task_enqueue"),
    ("commit: statement arguments (Swift/GRDB)", r"^commit$", r"StatementArguments|withBindings|HeaderCoding\.encode|Data\.init"),
    ("commit: SQLite statements", r"^commit$", r"Statement\.execute|sqlite3_step|sqlite3VdbeExec|Statement\.executeAllSteps|libsqlite3"),
    ("commit: transaction begin/commit", r"^commit$", r"beginTransaction|Database\.commit|inTransaction"),
    ("commit: lease table and bookkeeping", r"^commit$", r"noteStored|LeaseTable|SQLiteMessageStore\.insert"),
    ("commit: batching, thread wait", r"^commit$", r"ThreadGroupCommitter"),
    # --- delivery (cooperative pool and the client's event loop)
    ("delivery: outcome write (SQLite, GRDB)", r"^writer$", r"libsqlite3|fdatasync|__libc_pwrite|SerializedDatabase|StatementArguments|withBindings"),
    ("delivery: outcome write (SQLite, GRDB)", None, r"SQLiteMessageStore\.complete|writeCompletions|writeOutcomes|recordOutcomeEvents|DeliveryOutcomes\.write|DeliveryDispatcher\.write"),
    ("delivery: claim (retry worker, SQLite)", None, r"RetryWorker|SQLiteMessageStore\.claim|claimDue"),
    ("delivery: request build (HTTPSink)", None, r"HTTPSink\.post|HTTPSink\.deliver|HTTPClientRequest"),
    ("delivery: AsyncHTTPClient (connection pool, HTTP/1 client channel)", None, r"AsyncHTTPClient|HTTPClient\.|HTTP1ClientChannelHandler|HTTPConnectionPool|Transaction\.|RequestBag|HTTPRequestEncoder|HTTPResponseDecoder|HTTPClientResponse"),
    ("delivery: outcome decision, breaker, health, metrics", None, r"DeliveryDispatcher\.(deliver|outcome)|DestinationHealth|CircuitBreaker|breakerCheck|DeliveryOutcomes"),
    ("delivery: queue and dispatch (claim from memory)", None, r"DeliveryDispatcher|DeliveryJobQueue|DeliveryLane|Wakeup"),
    # --- ingest handler
    ("ingest: id and timestamp (UUIDv7, clock)", None, r"MessageID\.make|SystemClock|WallClock|clock_gettime|RFC3339"),
    ("ingest: hand-off to the commit thread (submit, suspend)", None, r"ThreadGroupCommitter|DeliveryIntake\.accept|withUnsafeThrowingContinuation"),
    ("ingest: body collect", None, r"collect\(upTo:\)|RequestBody"),
    ("ingest: header capture, body copy, message, response", None, r"IngestController|CredentialHeaders|NewMessage|MessageHeader"),
    # --- middleware and router
    ("middleware: metrics (HTTPMetricsMiddleware, Prometheus)", None, r"HTTPMetricsMiddleware|AppMetrics|Prometheus|MetricsMiddleware|CounterHandler|TimerHandler|Histogram"),
    ("middleware: request id, logger metadata", None, r"RequestIDMiddleware|Logger\.subscript|LogHandler|JSONLogHandler"),
    ("middleware: canonical path, errors, guards, CORS", None, r"CanonicalPathMiddleware|RequestPath|ErrorMiddleware|MethodNotAllowed|EndpointGuard|CORSMiddleware|RateLimit|APIKeyAuth|SecurityHeaders"),
    ("router (trie resolve, responder)", None, r"RouterTrie|RouterResponder|RouterPath|Router\.|TrieRouter|ResolveContext"),
    ("request context init", None, r"AppRequestContext|RequestContext|InitializableFromSource"),
    # --- Hummingbird's per-request loop on the cooperative pool
    ("Hummingbird request loop (Request, response writer, async stream)", None, r"HTTPChannelHandler|HTTPServerBuilder|ApplicationProtocol|NIOAsyncChannelOutboundWriter|NIOAsyncWriter|NIOThrowingAsyncSequenceProducer|NIOAsyncChannelInboundStream|Request\.|URI\.init|ResponseWriter|HTTPRequestPart"),
    # --- event loop (NIO) thread
    ("NIO: response encode and socket write", r"NIO", r"_doOutboundWrites|didYield|HTTPResponseEncoder|HTTP1ToHTTPServerCodec\.write|writeToSocket|flushNow|flush0|__GI___writev|do_writev|HTTPConnectionStateHandler\.write"),
    ("NIO: hand-off of request parts to the handler task", r"NIO", r"_deliverReads|NIOAsyncChannelHandler\.channelRead|NIOAsyncChannelHandler\.channelReadComplete|Source\.yield"),
    ("NIO: socket read and HTTP parse (llhttp, codec)", r"NIO", r"readFromSocket|ByteToMessageHandler|HTTPDecoder|llhttp|HTTP1ToHTTPServerCodec\.channelRead|BetterHTTPParser|__GI___read|ksys_read"),
    ("NIO: connection guard handlers (MessageBridge)", r"NIO", r"ConnectionGuardHandler|ConnectionGateHandler"),
    ("NIO: event loop (epoll, scheduled tasks)", r"NIO", r"SelectableEventLoop|Selector|epoll"),
]
# Tried only when no frame of a sample matched a rule above: libc and libsqlite3 have no frame pointers, so the
# stacks of their leaf functions lose their callers.
FALLBACK = [
    ("SQLite, caller lost", None, r"libsqlite3"),
    ("heap allocation, caller lost (libc has no frame pointers)", None, r"^(malloc|free|cfree|_int_malloc|_int_free|calloc|realloc|malloc_consolidate|__libc_malloc|tcache|__malloc)"),
    ("task scheduling and hops (job run, executor switch)", None, r"swift::AsyncTask|swift_task_|swift_job_run|StackAllocator|swift_continuation|runJobInEstablishedExecutorContext|removeStatusRecord|_dispatch"),
    ("futex, scheduler, locks", None, r"futex|__schedule|finish_task_switch|_raw_spin_unlock|pthread_mutex|try_to_wake_up"),
]
FALLBACK_COMPILED = [(stage, re.compile(t) if t else None, re.compile(f)) for stage, t, f in FALLBACK]
COMPILED = [(stage, re.compile(t) if t else None, re.compile(f)) for stage, t, f in RULES]

RUNTIME = [
    ("retain/release (ARC)", r"^swift_(retain|release|bridgeObjectRe|unknownObjectRe)|RefCounts.*doDecrementSlow|_swift_release_dealloc"),
    ("heap allocation (malloc/free, swift_allocObject)", r"^(malloc|free|cfree|_int_malloc|_int_free|calloc|realloc|malloc_consolidate|__libc_malloc|__libc_free|swift_allocObject|swift_slowAlloc|swift_slowDealloc|swift_deallocObject|__malloc_usable_size|tcache)"),
    ("generic metadata and casts", r"GenericMetadata|getCache|MetadataCacheKey|ConcurrentReadableHashMap|swift_dynamicCast|tryCast|swift_conformsToProtocol|instantiate.*Metadata|swift_getTypeByMangledName"),
    ("task machinery (switch, executor, task alloc)", r"swift::AsyncTask|swift_task_|swift_job_run|StackAllocator|swift_continuation|runJobInEstablishedExecutorContext|_dispatch"),
    ("futex and scheduler (kernel)", r"futex|__schedule|finish_task_switch|_raw_spin_unlock|try_to_wake_up"),
]
RUNTIME_COMPILED = [(n, re.compile(p)) for n, p in RUNTIME]


def read_samples(path):
    samples, current = [], None
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            if not line[0].isspace():
                fields = line.split()
                period = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else 1
                current = {"comm": fields[0], "period": period, "frames": []}
                samples.append(current)
            elif current is not None:
                parts = line.strip().split(" ", 1)
                current["frames"].append(parts[1] if len(parts) > 1 else "?")
    return samples


def thread_kind(comm):
    if comm.startswith("ingest-commit"):
        return "commit"
    if comm.endswith("qos.overcommit"):
        # GRDB's writer queue (async writes: delivery outcomes, claims) runs on libdispatch's overcommit threads.
        return "writer"
    if comm.startswith("NIO"):
        return "NIO"
    if "qos" in comm:
        return "pool"
    return re.sub(r"\d+", "N", comm)


def classify(sample):
    kind = thread_kind(sample["comm"])
    for rules in (COMPILED, FALLBACK_COMPILED):
        for frame in sample["frames"]:
            for stage, thread, pattern in rules:
                if thread is not None and not thread.search(kind):
                    continue
                if pattern.search(frame):
                    return stage
    return f"other: {kind} thread"


def main():
    path, us_per_req = sys.argv[1], float(sys.argv[2])
    show_other = int(sys.argv[sys.argv.index("--unattributed") + 1]) if "--unattributed" in sys.argv else 0
    samples = read_samples(path)
    total = sum(s["period"] for s in samples) or 1
    stages, runtime, threads = collections.Counter(), collections.Counter(), collections.Counter()
    other_leaves = collections.Counter()
    for s in samples:
        stage = classify(s)
        stages[stage] += s["period"]
        threads[thread_kind(s["comm"])] += s["period"]
        leaf = re.sub(r" \([^()]*\)$", "", s["frames"][0]) if s["frames"] else "?"
        for name, pattern in RUNTIME_COMPILED:
            if pattern.search(leaf):
                runtime[name] += s["period"]
                break
        if stage.startswith("other"):
            other_leaves[(stage, " <- ".join(f[:60] for f in s["frames"][:3]))] += s["period"]
    print(f"samples: {len(samples)}; server CPU per request (from /proc): {us_per_req:.1f} us")
    print("| stage | % of server CPU | us per request |")
    print("|---|---:|---:|")
    for stage, n in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"| {stage} | {100 * n / total:.1f} | {us_per_req * n / total:.1f} |")
    print()
    print("| thread | % of server CPU | us per request |")
    print("|---|---:|---:|")
    for name, n in threads.most_common():
        print(f"| {name} | {100 * n / total:.1f} | {us_per_req * n / total:.1f} |")
    print()
    print("| runtime work, self time across all stages | % of server CPU | us per request |")
    print("|---|---:|---:|")
    for name, n in runtime.most_common():
        print(f"| {name} | {100 * n / total:.1f} | {us_per_req * n / total:.1f} |")
    if show_other:
        print()
        for (stage, stack), n in other_leaves.most_common(show_other):
            print(f"{100 * n / total:5.2f}% {stage}: {stack}")


if __name__ == "__main__":
    main()
