/* gw_main.c: `sukima gateway`: options, start-up and orderly shutdown. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "common/sk_log.h"
#include "gateway/gw.h"
#include "gateway/gw_auth.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sukima gateway [--nats URL] [--listen ADDR:PORT] "
		"[options]\n"
		"  --nats URL          NATS server(s) (default $SUKIMA_NATS or "
		"nats://127.0.0.1:4222)\n"
		"  --listen ADDR:PORT  HTTP address (default 127.0.0.1:8080; "
		"port 0 = any)\n"
		"  --max-body SIZE     largest invocation body (default 8M)\n"
		"  --max-artifact SIZE largest uploaded ELF (default 128M)\n"
		"  --max-inflight SIZE request bytes buffered at once, all "
		"requests (default 512M)\n"
		"  --start-wait MS     a sync call no worker started by then "
		"gets 503 (default 10000)\n"
		"  --threads N         HTTP threads (default 4)\n"
		"  --no-callbacks      do not deliver X-Callback-Url "
		"callbacks\n"
		"  --tls-cert FILE --tls-key FILE  serve HTTPS (PEM; `sukima "
		"init` writes gateway.pem/.key)\n"
		"  --insecure          no bearer tokens (anyone reaching the "
		"port may deploy)\n" SK_SEC_USAGE);
}

static int parse_listen(struct gw_opts *o, const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;
	size_t al;

	if (!colon)
		return -EINVAL;
	al = (size_t)(colon - s);
	if (al == 0 || al >= sizeof(o->listen_addr))
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port > 65535)
		return -EINVAL;
	memcpy(o->listen_addr, s, al);
	o->listen_addr[al] = '\0';
	if (strcmp(o->listen_addr, "localhost") == 0)
		snprintf(o->listen_addr, sizeof(o->listen_addr), "127.0.0.1");
	o->port = (unsigned)port;
	return 0;
}

static int parse_opts(struct gw_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{"nats", required_argument, NULL, 'n'},
		{"listen", required_argument, NULL, 'l'},
		{"max-body", required_argument, NULL, 'b'},
		{"max-artifact", required_argument, NULL, 'a'},
		{"max-inflight", required_argument, NULL, 'i'},
		{"start-wait", required_argument, NULL, 's'},
		{"threads", required_argument, NULL, 't'},
		{"no-callbacks", no_argument, NULL, 'C'},
		{"tls-cert", required_argument, NULL, 'T'},
		{"tls-key", required_argument, NULL, 'K'},
		{"insecure", no_argument, NULL, 'I'},
		SK_SEC_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *env = getenv("SUKIMA_NATS");
	char serr[600];
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->nats_url = env && env[0] ? env : "nats://127.0.0.1:4222";
	snprintf(o->listen_addr, sizeof(o->listen_addr), "127.0.0.1");
	o->port = 8080;
	o->max_body = 8u << 20;
	o->max_artifact = 128u << 20;
	o->max_inflight = 512u << 20;
	o->start_wait_ms = 10000;
	o->margin_ms = 2000;
	o->threads = 4;
	o->callbacks = 1;
	o->callback_timeout_ms = 10000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		uint64_t v;
		char *end;
		long n;

		switch (c) {
		case 'n':
			o->nats_url = optarg;
			break;
		case 'l':
			if (parse_listen(o, optarg)) {
				fprintf(stderr,
					"sukima gateway: bad --listen '%s' "
					"(want ADDR:PORT)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'b':
		case 'a':
		case 'i':
			if (sk_parse_size(optarg, &v) || v == 0) {
				fprintf(stderr,
					"sukima gateway: bad size '%s' (e.g. "
					"8M)\n",
					optarg);
				return -EINVAL;
			}
			if (c == 'b')
				o->max_body = v;
			else if (c == 'a')
				o->max_artifact = v;
			else
				o->max_inflight = v;
			break;
		case 's':
		case 't':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || n < 1 || (c == 't' && n > 64) ||
			    n > 3600000) {
				fprintf(stderr,
					"sukima gateway: bad number '%s'\n",
					optarg);
				return -EINVAL;
			}
			if (c == 's')
				o->start_wait_ms = n;
			else
				o->threads = (int)n;
			break;
		case 'C':
			o->callbacks = 0;
			break;
		case 'T':
			o->tls_cert = optarg;
			break;
		case 'K':
			o->tls_key = optarg;
			break;
		case 'I':
			o->insecure = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			/* --creds, --tls-ca, --user... (sk_tls.h) */
			rc = sk_sec_getopt(&o->sec, c, optarg, serr,
					   sizeof(serr));
			if (rc > 0)
				break;
			if (rc < 0)
				fprintf(stderr, "sukima gateway: %s\n", serr);
			else
				usage(stderr);
			return -EINVAL;
		}
	}
	if (!o->tls_cert != !o->tls_key) {
		fprintf(stderr, "sukima gateway: --tls-cert and --tls-key go "
				"together\n");
		return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "sukima gateway: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Bodies must fit in one NATS message next to the Sk-Call header. */
static void clamp_body(struct gw *g)
{
	int64_t mp = natsConnection_GetMaxPayload(g->n->nc);
	uint64_t room = mp > (64 << 10) ? (uint64_t)mp - (64 << 10) : 0;

	if (room && g->o.max_body > room) {
		sk_warn("--max-body %llu exceeds what the NATS server takes "
			"(max_payload %lld minus headers): using %llu",
			(unsigned long long)g->o.max_body, (long long)mp,
			(unsigned long long)room);
		g->o.max_body = room;
	}
}

int cmd_gateway(int argc, char **argv)
{
	struct gw *g;
	sigset_t set;
	int rc, sig = 0;

	g = calloc(1, sizeof(*g));
	if (!g)
		return 1;
	rc = parse_opts(&g->o, argc, argv);
	if (rc) {
		free(g);
		return rc > 0 ? 0 : 2;
	}
	sk_log_init("gateway", SK_LOG_INFO);
	/* Signals go to sigwait below, never to a worker thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&g->lock, NULL);
	pthread_mutex_init(&g->fn_lock, NULL);
	sk_new_id(g->id);
	g->started_us = sk_now_us();
	g->workers_at_ms = sk_mono_ms();

	rc = gw_nats_open(g);
	if (rc) {
		sk_error("cannot use NATS at %s: %s", g->o.nats_url,
			 strerror(-rc));
		goto out;
	}
	clamp_body(g);
	rc = gw_auth_open(g);
	if (rc)
		goto out;
	rc = gw_http_start(g);
	if (rc)
		goto out;
	if (pthread_create(&g->timer_thr, NULL, gw_timer_main, g) == 0)
		g->timer_started = 1;
	if (g->o.callbacks &&
	    pthread_create(&g->cb_thr, NULL, gw_callbacks_main, g) == 0)
		g->cb_started = 1;
	if (!g->timer_started || (g->o.callbacks && !g->cb_started)) {
		sk_error("cannot start threads");
		rc = -EAGAIN;
		goto out;
	}
	sk_info("gateway %s listening on %s://%s:%u (NATS %s)", g->id,
		g->o.tls_cert ? "https" : "http", g->o.listen_addr, g->o.port,
		g->o.nats_url);
	sigwait(&set, &sig);
	sk_info("signal %d: shutting down", sig);
	rc = 0;
out:
	atomic_store(&g->stop, 1);
	if (g->mhd)
		MHD_quiesce_daemon(g->mhd); /* no new connections */
	/* The timer thread answers every waiting caller as it leaves. */
	if (g->timer_started)
		pthread_join(g->timer_thr, NULL);
	if (g->mhd) {
		struct timespec ts = {0, 100000000L};
		nanosleep(&ts, NULL); /* let those answers go out */
	}
	gw_http_stop(g);
	if (g->cb_started)
		pthread_join(g->cb_thr, NULL);
	gw_auth_close();
	gw_nats_close(g);
	free(g->tls_cert_pem);
	free(g->tls_key_pem);
	curl_global_cleanup();
	pthread_mutex_destroy(&g->lock);
	pthread_mutex_destroy(&g->fn_lock);
	free(g);
	return rc ? 1 : 0;
}
