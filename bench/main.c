/* main.c - dariusbench: options and mode dispatch.
 *
 *   dariusbench MODE [options]
 *     mix         realistic concurrent sessions for -d seconds
 *     append      -c clients each APPEND -n messages
 *     idle        -c connections in IDLE; server memory per connection
 *     bigmailbox  fill one mailbox to -n messages, time SELECT / FETCH
 *     lmtp        -c LMTP connections each deliver -n messages to -R recipients
 *     login       -c clients loop LOGIN/LOGOUT; NOOP probe (-N) latency
 *     searchload  -c clients loop SEARCH BODY on -n ~-s byte messages; NOOP probe
 *     imapmix     -c clients run a mail-client cycle, a new LOGIN each cycle
 *                 (or --persistent sessions): commands/s, NO/BAD counted
 *     compress    in process, no server: COMPRESS=DEFLATE memory per idle
 *                 connection (-c of them) and CPU per MiB sent (compress.c)
 *     sort        fill one mailbox to -n messages of varied headers, time SORT by each key
 *     freeport    print a free 127.0.0.1 TCP port (for tools/bench.sh)
 *     wait        poll until the server greets, or fail after -d seconds
 */
#include "bench.h"
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

struct opts bench_opts = {
    .host = "127.0.0.1",
    .port = 1143,
    .userfmt = "bench%d",
    .users = 10,
    .password = "benchpass",
    .clients = 10,
    .seconds = 20,
    .count = 100,
    .threads = 1,
    .runs = 5,
    .msgsize = 4096,
    .timeout = 120,
    .literal_plus = true,
    .rcpts = 1,
};

static void usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: dariusbench MODE [options]\n"
            "modes: mix | append | idle | bigmailbox | lmtp | login | searchload | imapmix | compress | sort |\n"
            "       notify |\n"
            "       freeport | wait\n"
            "  -h HOST        server address (127.0.0.1)\n"
            "  -p PORT        IMAP port (1143)\n"
            "  -u USERFMT     user name, \"%%d\" is replaced by client %% U (bench%%d)\n"
            "  -U COUNT       number of distinct users for %%d (10)\n"
            "  -w PASSWORD    password (benchpass)\n"
            "  -c N           concurrent clients / connections (10)\n"
            "  -d SECONDS     mix duration; wait deadline (20)\n"
            "  -n COUNT       append: messages per client; bigmailbox, searchload: messages (100)\n"
            "  -s BYTES       append, searchload: message size (4096)\n"
            "  -j THREADS     event-loop threads for mix/append (1)\n"
            "  -r RUNS        bigmailbox timing runs; searchload single searches (5)\n"
            "  -N USER        login, searchload: the NOOP probe's user (another user)\n"
            "  --persistent   imapmix: sessions never log out\n"
            "  -R RCPTS       lmtp: recipients per message (1); -p is then the LMTP port\n"
            "  -P PID         idle: server master pid for memory measurement\n"
            "  -t SECONDS     per-command timeout (120)\n"
            "  --no-literal-plus   always use synchronising literals\n"
            "  --tls          implicit TLS (connect to the IMAPS port; no cert check)\n"
            "  -q             quiet\n"
            "Prints aligned tables and one \"RESULT mode=... key=value ...\" line.\n");
    exit(rc);
}

static long num_arg(const char *s, long min, long max, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "dariusbench: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static int mode_freeport(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
        close(fd);
        return 1;
    }
    printf("%d\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

/* Poll: connect and read a greeting, until the deadline. Each attempt is
 * bounded by a short receive timeout; between failed attempts we wait for
 * a fraction of a second (this is a poll interval, not synchronisation). */
static int mode_wait(void)
{
    double deadline = bench_now_sec() + bench_opts.seconds;
    int saved = bench_opts.timeout;
    bench_opts.timeout = 2;
    int rc = 1;
    while (bench_now_sec() < deadline) {
        struct bconn c;
        bconn_init(&c, 0);
        bool ok = bconn_connect(&c, true) && bsync_wait_greeting(&c) == ST_OK;
        bconn_free(&c);
        if (ok) {
            rc = 0;
            break;
        }
        usleep(50 * 1000);
    }
    bench_opts.timeout = saved;
    if (rc)
        fprintf(stderr, "dariusbench: no IMAP greeting from %s:%d within %.0f s\n", bench_opts.host,
                bench_opts.port, bench_opts.seconds);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage(2);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
        usage(0);
    bench_opts.mode = argv[1];
    static const struct option longopts[] = {
        {"no-literal-plus", no_argument, NULL, 'L'},
        {"tls", no_argument, NULL, 'T'},
        {"persistent", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "h:p:u:U:w:c:d:n:s:j:r:R:P:t:qN:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': bench_opts.host = optarg; break;
        case 'p': bench_opts.port = (int)num_arg(optarg, 1, 65535, "port"); break;
        case 'u': bench_opts.userfmt = optarg; break;
        case 'U': bench_opts.users = (int)num_arg(optarg, 1, 10000000, "user count"); break;
        case 'w': bench_opts.password = optarg; break;
        case 'c': bench_opts.clients = (int)num_arg(optarg, 1, 1000000, "client count"); break;
        case 'd': bench_opts.seconds = (double)num_arg(optarg, 1, 86400, "seconds"); break;
        case 'n': bench_opts.count = num_arg(optarg, 1, 100000000, "count"); break;
        case 's': bench_opts.msgsize = (size_t)num_arg(optarg, 256, 100000000, "message size"); break;
        case 'j': bench_opts.threads = (int)num_arg(optarg, 1, 256, "threads"); break;
        case 'R': bench_opts.rcpts = (int)num_arg(optarg, 1, 1000, "recipients"); break;
        case 'r': bench_opts.runs = (int)num_arg(optarg, 1, 1000, "runs"); break;
        case 'P': bench_opts.master_pid = (pid_t)num_arg(optarg, 1, 1 << 30, "pid"); break;
        case 't': bench_opts.timeout = (int)num_arg(optarg, 1, 86400, "timeout"); break;
        case 'L': bench_opts.literal_plus = false; break;
        case 'T': bench_opts.tls = true; break;
        case 'S': bench_opts.persistent = true; break;
        case 'N': bench_opts.probe_user = optarg; break;
        case 'q': bench_opts.quiet = true; break;
        case 'H': usage(0); break;
        default: usage(2);
        }
    }
    if (optind != argc)
        usage(2);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (strcmp(bench_opts.mode, "freeport") == 0)
        return mode_freeport();
    if (!bench_resolve_target())
        return 1;
    if (bench_opts.tls && !bench_tls_init())
        return 1;
    if (strcmp(bench_opts.mode, "wait") == 0)
        return mode_wait();
    if (strcmp(bench_opts.mode, "mix") == 0 || strcmp(bench_opts.mode, "append") == 0 ||
        strcmp(bench_opts.mode, "login") == 0 || strcmp(bench_opts.mode, "searchload") == 0 ||
        strcmp(bench_opts.mode, "imapmix") == 0)
        bench_raise_nofile((long)bench_opts.clients + 64);
    if (strcmp(bench_opts.mode, "mix") == 0)
        return bench_mode_mix();
    if (strcmp(bench_opts.mode, "append") == 0)
        return bench_mode_append();
    if (strcmp(bench_opts.mode, "idle") == 0)
        return bench_mode_idle();
    if (strcmp(bench_opts.mode, "bigmailbox") == 0)
        return bench_mode_bigmailbox();
    if (strcmp(bench_opts.mode, "lmtp") == 0)
        return bench_mode_lmtp();
    if (strcmp(bench_opts.mode, "login") == 0)
        return bench_mode_login();
    if (strcmp(bench_opts.mode, "searchload") == 0)
        return bench_mode_searchload();
    if (strcmp(bench_opts.mode, "imapmix") == 0)
        return bench_mode_imapmix();
    if (strcmp(bench_opts.mode, "compress") == 0) {
        bench_raise_nofile(2 * (long)bench_opts.clients + 64);
        return bench_mode_compress();
    }
    if (strcmp(bench_opts.mode, "sort") == 0)
        return bench_mode_sort();
    if (strcmp(bench_opts.mode, "notify") == 0)
        return bench_mode_notify();
    fprintf(stderr, "dariusbench: unknown mode %s\n", bench_opts.mode);
    usage(2);
}
