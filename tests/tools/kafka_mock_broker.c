/*
 * kafka-mock-broker: a stand-in Kafka cluster for TaskFlow's tests.
 *
 * TEST TOOL ONLY. It is built for TaskFlow's test suite and is never shipped
 * or installed. It wraps librdkafka's experimental mock cluster API
 * (rdkafka_mock.h, librdkafka 2.0.2 on Debian 12), which has no ABI
 * guarantee, no CreateTopics, Describe, ACL or SASL support and keeps all state
 * in memory.
 *
 * Usage:
 *   kafka-mock-broker [--brokers N] [--topic NAME[:PARTITIONS]]...
 *                     [--bootstrap-file PATH]
 *
 *   --brokers N            number of mock brokers, 1..64 (default 3)
 *   --topic NAME[:P]       create topic NAME with P partitions (default 4);
 *                          repeatable. Replication = min(3, brokers).
 *   --bootstrap-file PATH  also write the bootstrap line to PATH (written to
 *                          a temporary file in the same directory, then
 *                          renamed; removed again on clean shutdown)
 *
 * Once the cluster is up, the bootstrap list ("127.0.0.1:P1,127.0.0.1:P2,...",
 * ports are ephemeral and differ each run) is printed as the first line on
 * stdout. The process then runs until SIGTERM or SIGINT, destroys the
 * cluster and exits 0.
 *
 * Control interface: one command per line on stdin; each command gets exactly
 * one reply line on stdout, "ok" or "error <text>". Blank lines and lines
 * starting with '#' are ignored (no reply). EOF on stdin (or no stdin at all)
 * does NOT stop the broker; only a signal does.
 *
 *   fail-produce N CODE     the next N Produce requests (cluster-wide) fail
 *                           with CODE (a Kafka error name such as
 *                           REQUEST_TIMED_OUT, NOT_LEADER_FOR_PARTITION,
 *                           NOT_ENOUGH_REPLICAS, or its number)
 *   clear-produce-errors    drop pending fail-produce errors (not delays)
 *   delay-produce ID MS [N] the next N (default 1) Produce requests to broker
 *                           ID (-1 = each broker) are handled at once but
 *                           answered only after MS milliseconds; a client
 *                           whose socket.timeout.ms is shorter times out and
 *                           retries a request that was already appended
 *   broker-down ID          disconnect broker ID and refuse new connections
 *                           (-1 = all brokers); no leader change happens
 *   broker-up ID            accept connections again (-1 = all brokers)
 *   topic NAME PARTITIONS   create another topic
 *
 * Signals are blocked in every thread (librdkafka's threads inherit the mask
 * from main) and received through a signalfd polled together with stdin, so
 * there is no asynchronous signal handler at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* Order matters: rdkafka_mock.h refuses to compile without rdkafka.h. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* The protocol ApiKey constants live in librdkafka's private
 * rdkafka_protocol.h, which Debian does not ship. Produce is ApiKey 0. */
#ifndef RD_KAFKAP_Produce
#define RD_KAFKAP_Produce 0
#endif

#define DEFAULT_BROKERS 3
#define MAX_BROKERS 64
#define DEFAULT_PARTITIONS 4
#define MAX_PARTITIONS 10000
#define MAX_FAIL_COUNT 100000
#define MAX_LINE 4096
#define MAX_TOPIC_NAME 249 /* Kafka's own limit */

static const char *progname = "kafka-mock-broker";

struct topic_arg {
    char *name; /* owned */
    int partitions;
};

struct broker {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int broker_cnt;
};

/* ---------------------------------------------------------------- output */

/* Writes all of buf to fd. Errors (e.g. EPIPE when the reader went away;
 * SIGPIPE is ignored) are reported to the caller and otherwise harmless. */
static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* One complete line on stdout per call, unbuffered (no stdio on fd 1, so
 * nothing can sit in a buffer while the test waits for it). */
__attribute__((format(printf, 1, 2)))
static void reply(const char *fmt, ...)
{
    char line[MAX_LINE + 128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) - 2 ? (size_t)n : sizeof(line) - 2;
    line[len++] = '\n';
    (void)write_all(STDOUT_FILENO, line, len);
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: %s [--brokers N] [--topic NAME[:PARTITIONS]]... "
        "[--bootstrap-file PATH]\n"
        "Test tool for TaskFlow's tests (librdkafka mock cluster); never shipped.\n"
        "Prints the bootstrap list on stdout, then runs until SIGTERM/SIGINT.\n"
        "stdin commands (reply: ok | error <text>):\n"
        "  fail-produce N CODE | clear-produce-errors | delay-produce ID MS [N]\n"
        "  broker-down ID | broker-up ID | topic NAME PARTITIONS\n",
        progname);
}

/* --------------------------------------------------------------- parsing */

static bool parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Kafka's legal topic names: [a-zA-Z0-9._-]{1,249}, not "." or "..". */
static bool valid_topic_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > MAX_TOPIC_NAME || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Maps a broker-side error name ("NOT_ENOUGH_REPLICAS", optionally with the
 * RD_KAFKA_RESP_ERR_ prefix, case-insensitive) or a non-negative number to
 * its code, using librdkafka's own table so every code it knows works.
 * Local (negative, client-side) codes are rejected: a broker cannot send
 * them, with the single documented exception of _TRANSPORT (disconnect). */
static bool parse_error_code(const char *s, rd_kafka_resp_err_t *out)
{
    long num;
    if (parse_long(s, 0, INT16_MAX, &num)) {
        *out = (rd_kafka_resp_err_t)num;
        return num != 0;
    }
    if (!strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18))
        s += 18;
    if (!strcasecmp(s, "_TRANSPORT")) {
        *out = RD_KAFKA_RESP_ERR__TRANSPORT;
        return true;
    }
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (descs[i].code <= 0 || !descs[i].name)
            continue;
        if (!strcasecmp(descs[i].name, s)) {
            *out = descs[i].code;
            return true;
        }
    }
    /* Newer name for the same code, absent from 2.0.2's table. */
    if (!strcasecmp(s, "NOT_LEADER_OR_FOLLOWER")) {
        *out = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
        return true;
    }
    return false;
}

static int replication_for(const struct broker *b)
{
    return b->broker_cnt < 3 ? b->broker_cnt : 3;
}

static rd_kafka_resp_err_t create_topic(struct broker *b, const char *name,
                                        int partitions)
{
    return rd_kafka_mock_topic_create(b->mc, name, partitions,
                                      replication_for(b));
}

/* -------------------------------------------------------------- commands */

/* Mock broker ids are 1..N; -1 means all. The library would answer
 * BROKER_NOT_AVAILABLE / _UNKNOWN_BROKER for others; we say what is valid. */
static bool parse_broker_id(const struct broker *b, const char *s, long *out)
{
    return parse_long(s, -1, b->broker_cnt, out) && *out != 0;
}

#define MAX_ARGS 8

static void handle_command(struct broker *b, char *line)
{
    line += strspn(line, " \t\r");
    if (line[0] == '\0' || line[0] == '#')
        return; /* blank line or comment: no reply */

    char *argv[MAX_ARGS + 1];
    int argc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t\r", &save); tok;
         tok = strtok_r(NULL, " \t\r", &save)) {
        if (argc == MAX_ARGS) {
            reply("error too many arguments");
            return;
        }
        argv[argc++] = tok;
    }
    argv[argc] = NULL;

    const char *cmd = argv[0];
    long n;

    if (!strcmp(cmd, "fail-produce")) {
        rd_kafka_resp_err_t code;
        if (argc != 3) {
            reply("error usage: fail-produce N CODE");
        } else if (!parse_long(argv[1], 1, MAX_FAIL_COUNT, &n)) {
            reply("error bad count '%s' (1..%d)", argv[1], MAX_FAIL_COUNT);
        } else if (!parse_error_code(argv[2], &code)) {
            reply("error unknown error code '%s'", argv[2]);
        } else {
            rd_kafka_resp_err_t *errs = malloc((size_t)n * sizeof(*errs));
            if (!errs) {
                reply("error out of memory");
                return;
            }
            for (long i = 0; i < n; i++)
                errs[i] = code;
            rd_kafka_mock_push_request_errors_array(b->mc, RD_KAFKAP_Produce,
                                                    (size_t)n, errs);
            free(errs);
            reply("ok");
        }
    } else if (!strcmp(cmd, "clear-produce-errors")) {
        if (argc != 1) {
            reply("error usage: clear-produce-errors");
        } else {
            rd_kafka_mock_clear_request_errors(b->mc, RD_KAFKAP_Produce);
            reply("ok");
        }
    } else if (!strcmp(cmd, "delay-produce")) {
        long id, ms, cnt = 1;
        if (argc != 3 && argc != 4) {
            reply("error usage: delay-produce ID MS [N]");
        } else if (!parse_broker_id(b, argv[1], &id)) {
            reply("error bad broker id '%s' (1..%d or -1 for all)", argv[1],
                  b->broker_cnt);
        } else if (!parse_long(argv[2], 1, 3600 * 1000, &ms)) {
            reply("error bad delay '%s' (1..3600000 ms)", argv[2]);
        } else if (argc == 4 && !parse_long(argv[3], 1, MAX_FAIL_COUNT, &cnt)) {
            reply("error bad count '%s' (1..%d)", argv[3], MAX_FAIL_COUNT);
        } else {
            rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
            int first = id == -1 ? 1 : (int)id;
            int last = id == -1 ? b->broker_cnt : (int)id;
            for (int bid = first; bid <= last && !err; bid++)
                for (long i = 0; i < cnt && !err; i++)
                    /* One (error, rtt) tuple per call; NO_ERROR = the
                     * request is processed normally, only the response
                     * is held back. */
                    err = rd_kafka_mock_broker_push_request_error_rtts(
                        b->mc, bid, RD_KAFKAP_Produce, 1,
                        RD_KAFKA_RESP_ERR_NO_ERROR, (int)ms);
            if (err)
                reply("error %s: %s", rd_kafka_err2name(err),
                      rd_kafka_err2str(err));
            else
                reply("ok");
        }
    } else if (!strcmp(cmd, "broker-down") || !strcmp(cmd, "broker-up")) {
        bool down = !strcmp(cmd, "broker-down");
        if (argc != 2) {
            reply("error usage: %s ID", cmd);
        } else if (!parse_broker_id(b, argv[1], &n)) {
            reply("error bad broker id '%s' (1..%d or -1 for all)", argv[1],
                  b->broker_cnt);
        } else {
            rd_kafka_resp_err_t err =
                down ? rd_kafka_mock_broker_set_down(b->mc, (int32_t)n)
                     : rd_kafka_mock_broker_set_up(b->mc, (int32_t)n);
            if (err)
                reply("error %s: %s", rd_kafka_err2name(err),
                      rd_kafka_err2str(err));
            else
                reply("ok");
        }
    } else if (!strcmp(cmd, "topic")) {
        if (argc != 3) {
            reply("error usage: topic NAME PARTITIONS");
        } else if (!valid_topic_name(argv[1])) {
            reply("error invalid topic name '%s'", argv[1]);
        } else if (!parse_long(argv[2], 1, MAX_PARTITIONS, &n)) {
            reply("error bad partition count '%s' (1..%d)", argv[2],
                  MAX_PARTITIONS);
        } else {
            rd_kafka_resp_err_t err = create_topic(b, argv[1], (int)n);
            if (err)
                reply("error %s: %s", rd_kafka_err2name(err),
                      rd_kafka_err2str(err));
            else
                reply("ok");
        }
    } else {
        reply("error unknown command '%s'", cmd);
    }
}

/* Line assembler for the non-blocking-by-poll stdin reader. */
struct linebuf {
    char buf[MAX_LINE + 1];
    size_t len;
    bool overflow; /* current line exceeded MAX_LINE; discard to '\n' */
};

/* Reads what is available on stdin and runs each complete line.
 * Returns false once stdin is finished (EOF or error). */
static bool pump_stdin(struct broker *b, struct linebuf *lb)
{
    char chunk[1024];
    ssize_t got = read(STDIN_FILENO, chunk, sizeof(chunk));
    if (got < 0)
        return errno == EINTR || errno == EAGAIN;
    if (got == 0) {
        /* A final unterminated line still counts as a command. */
        if (lb->len > 0 && !lb->overflow) {
            lb->buf[lb->len] = '\0';
            handle_command(b, lb->buf);
        }
        lb->len = 0;
        return false;
    }
    for (ssize_t i = 0; i < got; i++) {
        char c = chunk[i];
        if (c == '\n') {
            if (lb->overflow) {
                reply("error line too long (max %d bytes)", MAX_LINE);
            } else {
                lb->buf[lb->len] = '\0';
                handle_command(b, lb->buf);
            }
            lb->len = 0;
            lb->overflow = false;
        } else if (lb->len < MAX_LINE) {
            lb->buf[lb->len++] = c;
        } else {
            lb->overflow = true;
        }
    }
    return true;
}

/* ------------------------------------------------------- bootstrap file */

static bool write_bootstrap_file(const char *path, const char *bootstraps)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        fprintf(stderr, "%s: out of memory\n", progname);
        return false;
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());

    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "%s: %s: %s\n", progname, tmp, strerror(errno));
        free(tmp);
        return false;
    }
    bool ok = write_all(fd, bootstraps, strlen(bootstraps)) &&
              write_all(fd, "\n", 1);
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        fprintf(stderr, "%s: writing %s: %s\n", progname, path,
                strerror(saved));
        unlink(tmp);
    }
    free(tmp);
    return ok;
}

/* ------------------------------------------------------------------ main */

/* If fd 0/1/2 is closed, librdkafka's sockets could end up on it; we would
 * then read commands from, or write replies into, a broker connection. */
static bool ensure_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (nfd < 0)
            return false;
        if (nfd != fd) {
            /* Lower fds were already fixed, so this cannot happen, but be
             * explicit rather than leave a stray descriptor. */
            if (dup2(nfd, fd) < 0)
                return false;
            close(nfd);
        }
    }
    return true;
}

static int parse_args(int argc, char **argv, int *brokers,
                      struct topic_arg **topics, int *topic_cnt,
                      const char **bootstrap_file)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        size_t optlen = strcspn(a, "=");
        /* Accept both "--opt VALUE" and "--opt=VALUE". */
#define TAKE_VALUE(opt)                                                     \
    (strlen(opt) == optlen && !strncmp(a, opt, optlen) &&                   \
     ((a[optlen] == '=' && (val = a + optlen + 1)) ||                       \
      (a[optlen] == '\0' && i + 1 < argc && (val = argv[++i]))))

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (TAKE_VALUE("--brokers")) {
            long n;
            if (!parse_long(val, 1, MAX_BROKERS, &n)) {
                fprintf(stderr, "%s: bad --brokers '%s' (1..%d)\n", progname,
                        val, MAX_BROKERS);
                return 2;
            }
            *brokers = (int)n;
        } else if (TAKE_VALUE("--topic")) {
            struct topic_arg t = { NULL, DEFAULT_PARTITIONS };
            const char *colon = strrchr(val, ':');
            if (colon) {
                long n;
                if (!parse_long(colon + 1, 1, MAX_PARTITIONS, &n)) {
                    fprintf(stderr, "%s: bad partition count in --topic '%s' "
                            "(1..%d)\n", progname, val, MAX_PARTITIONS);
                    return 2;
                }
                t.partitions = (int)n;
            }
            char *name = colon ? strndup(val, (size_t)(colon - val))
                               : strdup(val);
            if (!name) {
                fprintf(stderr, "%s: out of memory\n", progname);
                return 2;
            }
            t.name = name;
            if (!valid_topic_name(t.name)) {
                fprintf(stderr, "%s: invalid topic name in --topic '%s'\n",
                        progname, val);
                free(name);
                return 2;
            }
            struct topic_arg *nt =
                realloc(*topics, (size_t)(*topic_cnt + 1) * sizeof(**topics));
            if (!nt) {
                fprintf(stderr, "%s: out of memory\n", progname);
                free(name);
                return 2;
            }
            *topics = nt;
            (*topics)[(*topic_cnt)++] = t;
        } else if (TAKE_VALUE("--bootstrap-file")) {
            if (!*val) {
                fprintf(stderr, "%s: empty --bootstrap-file\n", progname);
                return 2;
            }
            *bootstrap_file = val;
        } else {
            fprintf(stderr, "%s: unknown or incomplete argument '%s'\n",
                    progname, a);
            usage(stderr);
            return 2;
        }
#undef TAKE_VALUE
    }
    return 0;
}

static void free_topics(struct topic_arg *topics, int cnt)
{
    for (int i = 0; i < cnt; i++)
        free(topics[i].name);
    free(topics);
}

int main(int argc, char **argv)
{
    int brokers = DEFAULT_BROKERS;
    struct topic_arg *topics = NULL;
    int topic_cnt = 0;
    const char *bootstrap_file = NULL;
    int rc = 1;

    int pr = parse_args(argc, argv, &brokers, &topics, &topic_cnt,
                        &bootstrap_file);
    if (pr) {
        free_topics(topics, topic_cnt);
        return pr == 1 ? 0 : 2;
    }

    if (!ensure_std_fds()) {
        fprintf(stderr, "%s: cannot open /dev/null: %s\n", progname,
                strerror(errno));
        free_topics(topics, topic_cnt);
        return 1;
    }

    /* A vanished stdout reader must not kill us: writes just fail. */
    signal(SIGPIPE, SIG_IGN);

    /* Block the stop signals BEFORE librdkafka starts its threads, so they
     * inherit the mask and the signals can only surface via the signalfd. */
    sigset_t stopset;
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGTERM);
    sigaddset(&stopset, SIGINT);
    int perr = pthread_sigmask(SIG_BLOCK, &stopset, NULL);
    if (perr) {
        fprintf(stderr, "%s: pthread_sigmask: %s\n", progname, strerror(perr));
        free_topics(topics, topic_cnt);
        return 1;
    }
    int sfd = signalfd(-1, &stopset, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "%s: signalfd: %s\n", progname, strerror(errno));
        free_topics(topics, topic_cnt);
        return 1;
    }

    struct broker b = { .broker_cnt = brokers };
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* No bootstrap.servers: this handle only hosts the mock cluster. */
    if (rd_kafka_conf_set(conf, "client.id", "kafka-mock-broker", errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s\n", progname, errstr);
        rd_kafka_conf_destroy(conf);
        goto out_sfd;
    }
    b.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!b.rk) {
        fprintf(stderr, "%s: rd_kafka_new: %s\n", progname, errstr);
        rd_kafka_conf_destroy(conf);
        goto out_sfd;
    }
    b.mc = rd_kafka_mock_cluster_new(b.rk, brokers);
    if (!b.mc) {
        fprintf(stderr, "%s: rd_kafka_mock_cluster_new failed\n", progname);
        goto out_rk;
    }

    for (int i = 0; i < topic_cnt; i++) {
        rd_kafka_resp_err_t err =
            create_topic(&b, topics[i].name, topics[i].partitions);
        if (err) {
            fprintf(stderr, "%s: creating topic %s: %s\n", progname,
                    topics[i].name, rd_kafka_err2str(err));
            goto out_mc;
        }
    }

    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(b.mc);
    if (bootstrap_file && !write_bootstrap_file(bootstrap_file, bootstraps))
        goto out_mc;
    reply("%s", bootstraps);

    struct linebuf lb = { .len = 0 };
    bool stdin_open = true;
    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = sfd, .events = POLLIN },
            { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
        };
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: poll: %s\n", progname, strerror(errno));
            goto out_file;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            ssize_t n = read(sfd, &si, sizeof(si));
            if (n == (ssize_t)sizeof(si)) {
                fprintf(stderr, "%s: got %s, shutting down\n", progname,
                        strsignal((int)si.ssi_signo));
                break;
            }
        }
        if (pfd[1].revents & (POLLIN | POLLHUP)) {
            stdin_open = pump_stdin(&b, &lb);
        } else if (pfd[1].revents & (POLLERR | POLLNVAL)) {
            stdin_open = false;
        }
    }
    rc = 0;

out_file:
    if (bootstrap_file)
        unlink(bootstrap_file);
out_mc:
    rd_kafka_mock_cluster_destroy(b.mc);
out_rk:
    rd_kafka_destroy(b.rk);
out_sfd:
    close(sfd);
    free_topics(topics, topic_cnt);
    return rc;
}
