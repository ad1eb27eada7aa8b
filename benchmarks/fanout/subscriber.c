/*
 * Chat fan-out benchmark subscriber: a drop-in for `fanout.py subscribe`, in C so that the clients cost the shared
 * 2 cores as little as possible (the Python subscribers spent 10-40 us per frame, 0.5-1.0 of a core together, which
 * the servers under test then did not get). See benchmarks/README.md, "Chat fan-out".
 *
 *   subscriber --target mb|nats --port PORT [--tokens FILE] --first N --count N --ready FILE --timeout SECONDS
 *              --out FILE
 *
 * Same behaviour as fanout.py's `run_subscribe`:
 *   - opens --count WebSockets to 127.0.0.1:PORT, 64 at a time, each tried up to 3 times (30 s to connect, 30 s to
 *     be ready, 0.2 s between attempts); MessageBridge: /ws?token= with the subscribers' tokens from setup's file
 *     (--first on), ready on its `ready` frame; NATS: /, ready on the PONG that answers CONNECT + SUB room 1 + PING;
 *   - writes --ready (sockets, errors, error_count, open_s) once every socket is ready or has failed;
 *   - then reads until every socket saw the end marker, every socket that did not is closed, or --timeout passed;
 *     per message: the send time and sequence number found by byte search ("fanout t=<ns> s=<seq> p=<m|w|e>"),
 *     gaps and duplicates per socket, frames of other kinds counted by type;
 *   - writes the latencies of measured messages (int64 ns, native byte order) to --out.lat and the counts to --out
 *     as JSON with the same fields, for `fanout.py summarize`.
 *
 * One thread, epoll (level-triggered), non-blocking sockets, one read() per readiness, and the receive time
 * (CLOCK_REALTIME, what the sender's time.time_ns() reads) taken right after that read() returns, as the Python
 * client takes it when its event loop hands it the bytes. A minimal RFC 6455 client: no extensions are offered,
 * client frames are masked, server frames must not be; text, binary and continuation frames carry data, pings
 * are answered with pongs and a close frame with a close frame. The server's Sec-WebSocket-Accept is not checked
 * (only the 101 status): the servers are known, and the check would need SHA-1 here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define CONNECT_CONCURRENCY 64         /* fanout.py's CONNECT_CONCURRENCY */
#define CONNECT_ATTEMPTS 3
#define STEP_TIMEOUT_NS (30 * NS_PER_S) /* to connect, and then to be ready */
#define RETRY_DELAY_NS (NS_PER_S / 5)
#define MAX_MESSAGE (1 << 22)           /* fanout.py's max_size */
#define READ_SPACE 16384                /* free space offered to each read() */
#define MAX_KINDS 64                    /* distinct keys kept in a count table */
#define ERROR_SAMPLES 5

static const char MARK[] = "fanout t=";
static const char NATS_SUBSCRIBE[] = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB room 1\r\nPING\r\n";

enum target { TARGET_MB, TARGET_NATS };

enum opcode { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xA };

enum conn_state {
    CONN_WAITING,     /* not started, or waiting to retry */
    CONN_CONNECTING,  /* TCP connect in progress */
    CONN_UPGRADING,   /* HTTP upgrade request sent, waiting for the 101 */
    CONN_HANDSHAKE,   /* WebSocket open, waiting for MessageBridge's ready frame or NATS's PONG */
    CONN_READY,       /* counted among the sockets of the run */
    CONN_CLOSED,      /* was ready, then closed */
    CONN_FAILED,      /* every attempt failed */
};

struct buffer {
    char *data;
    size_t len;
    size_t cap;
};

/* Keys (frame kinds, close codes) with counts; a handful of distinct keys, so a linear search. */
struct counts {
    char *keys[MAX_KINDS];
    long values[MAX_KINDS];
    int len;
};

struct conn {
    int fd;
    enum conn_state state;
    uint32_t events;         /* what epoll watches for */
    int attempts;            /* attempts started */
    int64_t deadline_ns;     /* monotonic: end of the current step, or when to retry */
    bool nats_connect_sent;  /* NATS: INFO seen, CONNECT + SUB + PING sent */
    bool finished;           /* saw the end marker */
    int64_t last_seq;
    const char *token;       /* MessageBridge */
    struct buffer in;        /* bytes read, not parsed yet */
    struct buffer out;       /* bytes the socket did not take yet */
    struct buffer fragments; /* a fragmented message so far */
    struct buffer nats;      /* NATS protocol text not parsed yet */
};

struct options {
    enum target target;
    int port;
    const char *tokens_path;
    long first;
    long count;
    const char *ready_path;
    double timeout_s;
    const char *out_path;
};

struct run {
    struct options options;
    int epoll_fd;
    struct conn *conns;
    long next_to_start;      /* conns below this index have been started */
    long opening;            /* started, neither ready nor failed (at most CONNECT_CONCURRENCY) */
    long ready;
    long failed;
    long waiting;            /* ready, open, and the end marker not seen yet */
    char *error_samples[ERROR_SAMPLES];
    uint64_t mask_state;     /* xorshift state for the frames' masking keys */
    /* What the subscribers saw, as fanout.py's Stats. */
    int64_t *latencies;      /* ns, measured messages only */
    size_t latency_count;
    size_t latency_cap;
    long received, warmup, ends, finished, gaps, dups;
    struct counts other_frames;
    struct counts closed;    /* close code (as fanout.py writes it) -> sockets */
    int64_t first_ns, last_ns;
    bool has_arrivals;
};

/* ------------------------------------------------------------------------------------------------ helpers */

static void die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("subscriber: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

static int64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static void buffer_reserve(struct buffer *b, size_t free_space) {
    if (b->cap - b->len >= free_space) return;
    size_t cap = b->cap ? b->cap : READ_SPACE;
    while (cap - b->len < free_space) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) die("out of memory (%zu bytes)", cap);
    b->cap = cap;
}

static void buffer_append(struct buffer *b, const void *data, size_t len) {
    buffer_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void buffer_consume(struct buffer *b, size_t len) {
    memmove(b->data, b->data + len, b->len - len);
    b->len -= len;
}

static void buffer_free(struct buffer *b) {
    free(b->data);
    *b = (struct buffer){0};
}

static void counts_add(struct counts *c, const char *key, size_t len) {
    for (int i = 0; i < c->len; i++) {
        if (strlen(c->keys[i]) == len && memcmp(c->keys[i], key, len) == 0) {
            c->values[i]++;
            return;
        }
    }
    if (c->len == MAX_KINDS) {  /* the last slot takes every key beyond the table */
        key = "(more kinds)";
        len = strlen(key);
        if (strcmp(c->keys[MAX_KINDS - 1], key) == 0) {
            c->values[MAX_KINDS - 1]++;
            return;
        }
        free(c->keys[MAX_KINDS - 1]);
        c->len--;
    }
    c->keys[c->len] = strndup(key, len);
    c->values[c->len++] = 1;
}

/* Digits at p (up to end) as a number; *next is set past them. Malformed input gives -1. */
static int64_t parse_number(const char *p, const char *end, const char **next) {
    int64_t value = 0;
    const char *start = p;
    while (p < end && *p >= '0' && *p <= '9') value = value * 10 + (*p++ - '0');
    *next = p;
    return p == start ? -1 : value;
}

/* A JSON string of bytes; bytes above 0x7F as \u00XX (Latin-1), so that any server text gives valid JSON. */
static void json_string(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch > 0x7E) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void json_counts(FILE *f, const struct counts *c) {
    fputc('{', f);
    for (int i = 0; i < c->len; i++) {
        if (i) fputs(", ", f);
        json_string(f, c->keys[i], strlen(c->keys[i]));
        fprintf(f, ": %ld", c->values[i]);
    }
    fputc('}', f);
}

static void base64(const unsigned char *in, size_t len, char *out) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
        *out++ = i + 2 < len ? alphabet[v & 63] : '=';
    }
    *out = 0;
}

static uint32_t next_mask(struct run *run) {
    uint64_t x = run->mask_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    run->mask_state = x;
    return (uint32_t)x;
}

/* The subscribers' tokens from setup's JSON ({"subscribers": ["...", ...], ...}); JWTs need no unescaping. */
static char **read_tokens(const char *path, long *count) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s: %s", path, strerror(errno));
    struct buffer text = {0};
    size_t n;
    do {
        buffer_reserve(&text, 65536);
        n = fread(text.data + text.len, 1, 65536, f);
        text.len += n;
    } while (n > 0);
    fclose(f);
    buffer_append(&text, "", 1);
    char *p = strstr(text.data, "\"subscribers\"");
    p = p ? strchr(p, '[') : NULL;
    if (!p) die("%s has no subscribers list", path);
    long len = 0, cap = 1024;
    char **tokens = malloc(cap * sizeof *tokens);
    for (p++;;) {
        p += strspn(p, " \t\r\n,");
        if (*p == ']') break;
        char *end = *p == '"' ? strpbrk(p + 1, "\"\\") : NULL;
        if (!end || *end != '"') die("%s: unexpected subscriber token", path);
        if (len == cap) tokens = realloc(tokens, (cap *= 2) * sizeof *tokens);
        tokens[len++] = strndup(p + 1, end - p - 1);
        p = end + 1;
    }
    free(text.data);
    *count = len;
    return tokens;
}

/* The measured latencies: address space reserved up front (pages are only backed as they are written), so that
   no copy happens while messages arrive; grown by remapping if a run ever needs more. */
static void reserve_latencies(struct run *run, size_t cap) {
    void *p = run->latencies
        ? mremap(run->latencies, run->latency_cap * sizeof(int64_t), cap * sizeof(int64_t), MREMAP_MAYMOVE)
        : mmap(NULL, cap * sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) die("cannot reserve room for %zu latencies: %s", cap, strerror(errno));
    run->latencies = p;
    run->latency_cap = cap;
}

/* ------------------------------------------------------------------------------------------- connections */

static void start_next(struct run *run);

static void watch(struct run *run, struct conn *c, int op, uint32_t events) {
    if (op == EPOLL_CTL_MOD && events == c->events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(run->epoll_fd, op, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    c->events = events;
}

static void close_socket(struct conn *c) {
    if (c->fd >= 0) close(c->fd);  /* also takes it out of the epoll set */
    c->fd = -1;
    buffer_free(&c->in);
    buffer_free(&c->out);
    buffer_free(&c->fragments);
    buffer_free(&c->nats);
}

/* An attempt to open c failed: retried after RETRY_DELAY_NS, or after the last attempt counted as an error. */
static void fail_attempt(struct run *run, struct conn *c, const char *format, ...) {
    close_socket(c);
    c->nats_connect_sent = false;
    if (c->attempts < CONNECT_ATTEMPTS) {
        c->state = CONN_WAITING;
        c->deadline_ns = clock_ns(CLOCK_MONOTONIC) + RETRY_DELAY_NS;
        return;
    }
    c->state = CONN_FAILED;
    if (run->failed < ERROR_SAMPLES) {
        va_list args;
        va_start(args, format);
        if (vasprintf(&run->error_samples[run->failed], format, args) < 0) run->error_samples[run->failed] = NULL;
        va_end(args);
    }
    run->failed++;
    run->opening--;
    start_next(run);
}

/* A socket of the run is gone; code as fanout.py writes websockets' close_code (1006: the TCP connection ended
   without a close frame, None: it failed). */
static void close_ready(struct run *run, struct conn *c, const char *code) {
    if (!c->finished) run->waiting--;
    close_socket(c);
    c->state = CONN_CLOSED;
    counts_add(&run->closed, code, strlen(code));
}

/* The connection ended without a close frame; a failure while it was being opened. */
static void lost(struct run *run, struct conn *c, int error) {
    if (c->state == CONN_READY) {
        close_ready(run, c, error ? "None" : "1006");
    } else {
        fail_attempt(run, c, "ConnectionError: closed before ready (%s)", error ? strerror(error) : "end of stream");
    }
}

static void flush(struct run *run, struct conn *c) {
    while (c->out.len > 0) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);  /* a peer gone is an error, not SIGPIPE */
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n < 0) {
            lost(run, c, errno);
            return;
        }
        buffer_consume(&c->out, n);
    }
    watch(run, c, EPOLL_CTL_MOD, EPOLLIN | EPOLLET | (c->out.len ? EPOLLOUT : 0));
}

/* Queues bytes and writes them; the socket is watched for writability only while some are left over. */
static void send_bytes(struct run *run, struct conn *c, const void *data, size_t len) {
    bool was_empty = c->out.len == 0;
    buffer_append(&c->out, data, len);
    if (was_empty) flush(run, c);
}

/* One masked client frame. */
static void send_frame(struct run *run, struct conn *c, enum opcode opcode, const char *payload, size_t len) {
    unsigned char header[14];
    size_t h = 0;
    header[h++] = 0x80 | opcode;
    if (len < 126) {
        header[h++] = 0x80 | len;
    } else if (len < 65536) {
        header[h++] = 0x80 | 126;
        header[h++] = len >> 8;
        header[h++] = len;
    } else {
        header[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) header[h++] = (uint64_t)len >> (8 * i);
    }
    uint32_t mask = next_mask(run);
    memcpy(header + h, &mask, 4);
    const unsigned char *key = header + h;
    h += 4;
    struct buffer frame = {0};
    buffer_reserve(&frame, h + len);
    memcpy(frame.data, header, h);
    for (size_t i = 0; i < len; i++) frame.data[h + i] = payload[i] ^ key[i & 3];
    send_bytes(run, c, frame.data, h + len);
    buffer_free(&frame);
}

static void start(struct run *run, struct conn *c) {
    c->attempts++;
    c->state = CONN_CONNECTING;
    c->deadline_ns = clock_ns(CLOCK_MONOTONIC) + STEP_TIMEOUT_NS;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail_attempt(run, c, "OSError: socket: %s", strerror(errno));
        return;
    }
    int one = 1;  /* as asyncio and uvloop do: the few frames sent (pongs, NATS's commands) go out at once */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(run->options.port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        fail_attempt(run, c, "ConnectionRefusedError: connect 127.0.0.1:%d: %s", run->options.port, strerror(errno));
        return;
    }
    watch(run, c, EPOLL_CTL_ADD, EPOLLOUT);  /* writable once connected (or failed: SO_ERROR says which) */
}

/* Starts connections while fewer than CONNECT_CONCURRENCY are being opened. */
static void start_next(struct run *run) {
    while (run->opening < CONNECT_CONCURRENCY && run->next_to_start < run->options.count) {
        run->opening++;
        start(run, &run->conns[run->next_to_start++]);
    }
}

static void send_upgrade(struct run *run, struct conn *c) {
    unsigned char nonce[16];
    char key[25];
    if (getrandom(nonce, sizeof nonce, 0) != sizeof nonce) die("getrandom: %s", strerror(errno));
    base64(nonce, sizeof nonce, key);
    char request[4096];
    int len = snprintf(request, sizeof request,
                       "GET %s%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                       run->options.target == TARGET_MB ? "/ws?token=" : "/", c->token ? c->token : "",
                       run->options.port, key);
    if (len >= (int)sizeof request) die("token too long");
    c->state = CONN_UPGRADING;
    c->deadline_ns = clock_ns(CLOCK_MONOTONIC) + STEP_TIMEOUT_NS;  /* connected: 30 s more to be ready */
    send_bytes(run, c, request, len);
}

static void became_ready(struct run *run, struct conn *c) {
    c->state = CONN_READY;
    run->ready++;
    run->waiting++;
    run->opening--;
    start_next(run);
}

/* -------------------------------------------------------------------------------------------- messages */

/* One application message (fanout.py's subscriber_handler, per item). */
static void on_message(struct run *run, struct conn *c, const char *p, size_t len, int64_t now) {
    const char *end = p + len;
    const char *mark = memmem(p, len, MARK, sizeof MARK - 1);
    if (!mark) {
        /* MessageBridge: its "type"; NATS: the first 60 bytes (an -ERR line, or a payload of another kind). */
        const char *type = run->options.target == TARGET_MB ? memmem(p, len, "\"type\":\"", 8) : NULL;
        if (type) {
            const char *close = memchr(type + 8, '"', end - (type + 8));
            counts_add(&run->other_frames, type + 8, (close ? close : end) - (type + 8));
        } else {
            size_t head = run->options.target == TARGET_MB ? 40 : 60;
            counts_add(&run->other_frames, p, len < head ? len : head);
        }
        return;
    }
    const char *q;
    int64_t sent = parse_number(mark + sizeof MARK - 1, end, &q);
    int64_t seq = q + 3 <= end && memcmp(q, " s=", 3) == 0 ? parse_number(q + 3, end, &q) : -1;
    if (sent < 0 || seq < 0 || q + 4 > end || memcmp(q, " p=", 3) != 0) {
        counts_add(&run->other_frames, "malformed", 9);
        return;
    }
    char phase = q[3];
    if (seq <= c->last_seq) run->dups++;
    else if (seq != c->last_seq + 1) run->gaps += seq - c->last_seq - 1;
    if (seq > c->last_seq) c->last_seq = seq;
    switch (phase) {
    case 'm':
        if (run->latency_count == run->latency_cap) reserve_latencies(run, run->latency_cap * 2);
        run->latencies[run->latency_count++] = now - sent;
        run->received++;
        if (!run->has_arrivals) run->first_ns = now;
        run->has_arrivals = true;
        run->last_ns = now;
        break;
    case 'w':
        run->warmup++;
        break;
    case 'e':
        run->ends++;
        if (!c->finished) {
            c->finished = true;
            run->finished++;
            run->waiting--;
        }
        break;
    }
}

/* NATS protocol text from one data message (fanout.py's Target.messages): MSG payloads, PING answered; -ERR lines
   count as other frames; a MSG split over frames waits for the rest. */
static void on_nats_text(struct run *run, struct conn *c, const char *data, size_t len, int64_t now) {
    buffer_append(&c->nats, data, len);
    const char *buf = c->nats.data, *end = buf + c->nats.len, *pos = buf;
    while (c->fd >= 0) {
        const char *eol = memmem(pos, end - pos, "\r\n", 2);
        if (!eol) break;
        if (eol - pos >= 4 && memcmp(pos, "MSG ", 4) == 0) {
            const char *size_at = eol;
            while (size_at > pos && size_at[-1] != ' ') size_at--;
            const char *after;
            int64_t size = parse_number(size_at, eol, &after);
            if (size < 0) size = 0;
            if (end - eol < 2 + size + 2) break;
            on_message(run, c, eol + 2, size, now);
            pos = eol + 2 + size + 2;
        } else {
            size_t line = eol - pos;
            if (line == 4 && memcmp(pos, "PING", 4) == 0) send_frame(run, c, OP_BINARY, "PONG\r\n", 6);
            else if (line >= 4 && memcmp(pos, "-ERR", 4) == 0) on_message(run, c, pos, line, now);
            pos = eol + 2;
        }
    }
    if (c->fd >= 0) buffer_consume(&c->nats, pos - buf);
}

/* Data messages until the socket is ready (fanout.py's Target.handshake). */
static void on_handshake_message(struct run *run, struct conn *c, const char *p, size_t len, int64_t now) {
    if (run->options.target == TARGET_MB) {
        if (memmem(p, len, "\"type\":\"ready\"", 14)) became_ready(run, c);
        else fail_attempt(run, c, "RuntimeError: expected a ready frame, got %.*s", (int)(len < 200 ? len : 200), p);
        return;
    }
    if (!c->nats_connect_sent) {
        if (len < 5 || memcmp(p, "INFO ", 5) != 0) {
            fail_attempt(run, c, "RuntimeError: expected INFO, got %.*s", (int)(len < 200 ? len : 200), p);
            return;
        }
        c->nats_connect_sent = true;
        send_frame(run, c, OP_BINARY, NATS_SUBSCRIBE, sizeof NATS_SUBSCRIBE - 1);
        return;
    }
    buffer_append(&c->nats, p, len);
    const char *pong = memmem(c->nats.data, c->nats.len, "PONG\r\n", 6);
    if (!pong) return;
    buffer_consume(&c->nats, pong + 6 - c->nats.data);
    became_ready(run, c);
    if (c->nats.len) {  /* what came after the PONG in the same frame */
        struct buffer rest = c->nats;
        c->nats = (struct buffer){0};
        on_nats_text(run, c, rest.data, rest.len, now);
        buffer_free(&rest);
    }
}

static void on_data(struct run *run, struct conn *c, const char *p, size_t len, int64_t now) {
    if (c->state != CONN_READY) on_handshake_message(run, c, p, len, now);
    else if (run->options.target == TARGET_MB) on_message(run, c, p, len, now);
    else on_nats_text(run, c, p, len, now);
}

/* One server frame; false once the connection is closed. */
static bool on_frame(struct run *run, struct conn *c, int opcode, bool fin, const char *p, size_t len, int64_t now) {
    switch (opcode) {
    case OP_TEXT:
    case OP_BINARY:
    case OP_CONT:
        if (!fin || c->fragments.len) {
            buffer_append(&c->fragments, p, len);
            if (!fin) return true;
            struct buffer whole = c->fragments;
            c->fragments = (struct buffer){0};
            on_data(run, c, whole.data, whole.len, now);
            buffer_free(&whole);
        } else {
            on_data(run, c, p, len, now);
        }
        return c->fd >= 0;
    case OP_PING:
        send_frame(run, c, OP_PONG, p, len);
        return c->fd >= 0;
    case OP_PONG:
        return true;
    case OP_CLOSE: {
        unsigned code = len >= 2 ? (unsigned char)p[0] << 8 | (unsigned char)p[1] : 1005;
        send_frame(run, c, OP_CLOSE, p, len >= 2 ? 2 : 0);  /* the close handshake's answer, as websockets sends */
        if (c->fd < 0) return false;
        if (c->state == CONN_READY) {
            char text[16];
            snprintf(text, sizeof text, "%u", code);
            close_ready(run, c, text);
        } else {
            fail_attempt(run, c, "ConnectionClosedError: received close frame %u before ready", code);
        }
        return false;
    }
    default:
        if (c->state == CONN_READY) close_ready(run, c, "1002");
        else fail_attempt(run, c, "ProtocolError: invalid opcode %d", opcode);
        return false;
    }
}

/* Parses what c has read: the HTTP upgrade response, then complete frames. */
static void on_input(struct run *run, struct conn *c, int64_t now) {
    if (c->state == CONN_UPGRADING) {
        char *head_end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
        if (!head_end) {
            if (c->in.len > 65536) fail_attempt(run, c, "InvalidMessage: response head too long");
            return;
        }
        if (c->in.len < 13 || memcmp(c->in.data, "HTTP/1.1 101 ", 13) != 0) {
            char *eol = memmem(c->in.data, c->in.len, "\r\n", 2);
            fail_attempt(run, c, "InvalidStatus: server rejected WebSocket connection: %.*s",
                         (int)(eol - c->in.data), c->in.data);
            return;
        }
        buffer_consume(&c->in, head_end + 4 - c->in.data);
        c->state = CONN_HANDSHAKE;
    }
    size_t pos = 0;
    while (c->in.len - pos >= 2) {
        const unsigned char *h = (const unsigned char *)c->in.data + pos;
        size_t avail = c->in.len - pos, header = 2;
        uint64_t len = h[1] & 0x7F;
        if (h[1] & 0x80) {
            if (c->state == CONN_READY) close_ready(run, c, "1002");
            else fail_attempt(run, c, "ProtocolError: incorrect masking");
            return;
        }
        if (len == 126) {
            if (avail < 4) break;
            len = (uint64_t)h[2] << 8 | h[3];
            header = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 2; i < 10; i++) len = len << 8 | h[i];
            header = 10;
        }
        if (len > MAX_MESSAGE) {
            if (c->state == CONN_READY) close_ready(run, c, "1009");
            else fail_attempt(run, c, "PayloadTooBig: frame of %llu bytes", (unsigned long long)len);
            return;
        }
        if (avail < header + len) {
            buffer_reserve(&c->in, header + len - avail);
            break;
        }
        if (!on_frame(run, c, h[0] & 0x0F, h[0] & 0x80, (const char *)h + header, len, now)) return;
        pos += header + len;
    }
    buffer_consume(&c->in, pos);
}

/* Reads until a read returns less than it was offered: the socket's queue was empty then, and any later bytes
   raise a new edge (edge-triggered: the kernel does not poll every ready socket once more on the next wait). */
static void on_readable(struct run *run, struct conn *c) {
    while (c->fd >= 0) {
        buffer_reserve(&c->in, READ_SPACE);
        size_t space = c->in.cap - c->in.len;
        ssize_t n = read(c->fd, c->in.data + c->in.len, space);
        int64_t now = clock_ns(CLOCK_REALTIME);  /* the receive time of every frame this read brought */
        if (n > 0) {
            c->in.len += n;
            on_input(run, c, now);
            if ((size_t)n < space) return;
        } else if (n == 0) {
            lost(run, c, 0);
        } else if (errno != EINTR) {
            if (errno != EAGAIN) lost(run, c, errno);
            return;
        }
    }
}

static void on_event(struct run *run, struct conn *c, uint32_t events) {
    if (c->state == CONN_CONNECTING) {
        int error = 0;
        socklen_t size = sizeof error;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &size);
        if (error) fail_attempt(run, c, "ConnectionRefusedError: connect 127.0.0.1:%d: %s", run->options.port,
                                strerror(error));
        else send_upgrade(run, c);
        return;
    }
    if (events & EPOLLOUT) flush(run, c);
    if (c->fd >= 0 && events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(run, c);
}

/* One epoll_wait and its events. */
static void poll_once(struct run *run, int timeout_ms) {
    struct epoll_event events[256];
    int n = epoll_wait(run->epoll_fd, events, 256, timeout_ms);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        struct conn *c = events[i].data.ptr;
        if (c->fd >= 0) on_event(run, c, events[i].events);
    }
}

/* Timeouts of connections being opened, and retries due. */
static void check_deadlines(struct run *run) {
    int64_t now = clock_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < run->next_to_start; i++) {
        struct conn *c = &run->conns[i];
        if (now < c->deadline_ns) continue;
        if (c->state == CONN_WAITING) start(run, c);
        else if (c->state == CONN_CONNECTING || c->state == CONN_UPGRADING || c->state == CONN_HANDSHAKE)
            fail_attempt(run, c, "TimeoutError: %s",
                         c->state == CONN_CONNECTING ? "not connected within 30 s" : "not ready within 30 s");
    }
}

/* ------------------------------------------------------------------------------------------------ results */

static void write_ready(struct run *run, double open_s) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", run->options.ready_path);
    FILE *f = fopen(tmp, "w");
    if (!f) die("cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "{\"sockets\": %ld, \"errors\": [", run->ready);
    for (long i = 0; i < run->failed && i < ERROR_SAMPLES; i++) {
        const char *e = run->error_samples[i] ? run->error_samples[i] : "?";
        if (i) fputs(", ", f);
        json_string(f, e, strlen(e));
    }
    fprintf(f, "], \"error_count\": %ld, \"open_s\": %.6f}", run->failed, open_s);
    if (fclose(f) != 0 || rename(tmp, run->options.ready_path) != 0)
        die("cannot write %s: %s", run->options.ready_path, strerror(errno));
}

static void write_results(struct run *run, double cpu_s, double wall_s) {
    char path[4096];
    snprintf(path, sizeof path, "%s.lat", run->options.out_path);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(run->latencies, sizeof(int64_t), run->latency_count, f) != run->latency_count || fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
    f = fopen(run->options.out_path, "w");
    if (!f) die("cannot write %s: %s", run->options.out_path, strerror(errno));
    fprintf(f, "{\"sockets\": %ld, \"open_errors\": %ld, \"open_error_samples\": [", run->ready, run->failed);
    for (long i = 0; i < run->failed && i < ERROR_SAMPLES; i++) {
        const char *e = run->error_samples[i] ? run->error_samples[i] : "?";
        if (i) fputs(", ", f);
        json_string(f, e, strlen(e));
    }
    fprintf(f, "], \"received\": %ld, \"warmup\": %ld, \"ends\": %ld, \"gaps\": %ld, \"dups\": %ld, \"other_frames\": ",
            run->received, run->warmup, run->ends, run->gaps, run->dups);
    json_counts(f, &run->other_frames);
    fputs(", \"closed_early\": ", f);
    json_counts(f, &run->closed);
    fprintf(f, ", \"unfinished\": %ld, ", run->ready - run->finished);
    if (run->has_arrivals) fprintf(f, "\"first_ns\": %lld, \"last_ns\": %lld", (long long)run->first_ns,
                                   (long long)run->last_ns);
    else fputs("\"first_ns\": null, \"last_ns\": null", f);
    fprintf(f, ", \"cpu_s\": %.6f, \"wall_s\": %.6f}", cpu_s, wall_s);
    if (fclose(f) != 0) die("cannot write %s: %s", run->options.out_path, strerror(errno));
}

/* --------------------------------------------------------------------------------------------------- main */

static struct options parse_options(int argc, char **argv) {
    struct options o = {.target = -1, .count = -1, .timeout_s = -1};
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (i + 1 >= argc) die("%s needs a value", name);
        const char *value = argv[++i];
        if (strcmp(name, "--target") == 0) {
            if (strcmp(value, "mb") == 0) o.target = TARGET_MB;
            else if (strcmp(value, "nats") == 0) o.target = TARGET_NATS;
            else die("--target must be mb or nats, got %s", value);
        } else if (strcmp(name, "--port") == 0) o.port = atoi(value);
        else if (strcmp(name, "--tokens") == 0) o.tokens_path = value;
        else if (strcmp(name, "--first") == 0) o.first = atol(value);
        else if (strcmp(name, "--count") == 0) o.count = atol(value);
        else if (strcmp(name, "--ready") == 0) o.ready_path = value;
        else if (strcmp(name, "--timeout") == 0) o.timeout_s = atof(value);
        else if (strcmp(name, "--out") == 0) o.out_path = value;
        else die("unknown option %s", name);
    }
    if ((int)o.target < 0 || o.port <= 0 || o.count < 0 || !o.ready_path || o.timeout_s < 0 || !o.out_path)
        die("usage: subscriber --target mb|nats --port PORT [--tokens FILE] [--first N] --count N --ready FILE "
            "--timeout SECONDS --out FILE");
    if (o.target == TARGET_MB && !o.tokens_path) die("--target mb needs --tokens");
    return o;
}

int main(int argc, char **argv) {
    struct run run = {.options = parse_options(argc, argv)};
    long count = run.options.count;
    run.conns = calloc(count ? count : 1, sizeof *run.conns);
    run.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (!run.conns || run.epoll_fd < 0) die("setup: %s", strerror(errno));
    if (getrandom(&run.mask_state, sizeof run.mask_state, 0) != sizeof run.mask_state || !run.mask_state)
        run.mask_state = (uint64_t)clock_ns(CLOCK_REALTIME) | 1;
    reserve_latencies(&run, (size_t)1 << 27);  /* 1 GiB of address space, 134 M latencies */
    char **tokens = NULL;
    if (run.options.target == TARGET_MB) {
        long available;
        tokens = read_tokens(run.options.tokens_path, &available);
        long from = run.options.first < available ? run.options.first : available;
        if (available - from < count) die("only %ld subscriber tokens from %ld", available - from, run.options.first);
    }
    for (long i = 0; i < count; i++) {
        run.conns[i] = (struct conn){.fd = -1, .last_seq = -1,
                                     .token = tokens ? tokens[run.options.first + i] : NULL};
    }

    int64_t t0 = clock_ns(CLOCK_MONOTONIC), checked = t0;
    start_next(&run);
    while (run.ready + run.failed < count) {
        poll_once(&run, 50);
        if (clock_ns(CLOCK_MONOTONIC) - checked >= 50000000) {  /* a scan of all sockets, not one per wake-up */
            check_deadlines(&run);
            checked = clock_ns(CLOCK_MONOTONIC);
        }
    }
    write_ready(&run, (clock_ns(CLOCK_MONOTONIC) - t0) / 1e9);

    /* Until every socket saw the end marker, every socket that has not is closed, or the deadline. */
    double cpu0 = cpu_seconds();
    int64_t wall0 = clock_ns(CLOCK_MONOTONIC);
    int64_t deadline = wall0 + (int64_t)(run.options.timeout_s * NS_PER_S);
    for (;;) {
        int64_t left = deadline - clock_ns(CLOCK_MONOTONIC);
        if (run.finished >= run.ready || run.waiting == 0 || left <= 0) break;
        poll_once(&run, left > 200000000 ? 200 : (int)(left / 1000000) + 1);
    }
    write_results(&run, cpu_seconds() - cpu0, (clock_ns(CLOCK_MONOTONIC) - wall0) / 1e9);
    return 0;  /* the kernel closes the sockets, as the Python client's abort() does */
}
