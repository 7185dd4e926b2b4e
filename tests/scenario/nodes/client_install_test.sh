#!/usr/bin/env bash
# Intent: the node C API is installable: `cmake --install` into a scratch prefix gives
# include/refbus/refbus_node.h, the client libraries and refbus-node.pc, and a program built
# only from those (pkg-config, no source tree) talks to a control socket: an answer comes back,
# a refusal carries the daemon's code and sentence, a missing socket is REFBUS_EUNAVAILABLE.
set -uo pipefail
SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
BIN=${REFBUS_BIN_DIR:-$SRC/build/bin}
BUILD=$(cd "$BIN/.." && pwd)
CC=${CC:-cc}
command -v pkg-config >/dev/null || { echo "SKIP: no pkg-config"; exit 77; }
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT

cmake --install "$BUILD" --prefix "$T/prefix" >"$T/install.log" 2>&1 ||
    { cat "$T/install.log" >&2; echo "FAIL: cmake --install" >&2; exit 1; }
PC=$(find "$T/prefix" -name refbus-node.pc)
[ -n "$PC" ] || { echo "FAIL: refbus-node.pc not installed" >&2; exit 1; }
H=$(find "$T/prefix" -path '*/include/refbus/refbus_node.h')
[ -n "$H" ] || { echo "FAIL: include/refbus/refbus_node.h not installed" >&2; exit 1; }
# the test variant and the daemon internals stay out of the install
if find "$T/prefix" -name '*testhooks*' -o -name 'node_int.h' | grep -q .; then
    echo "FAIL: test variant or daemon internals installed" >&2; exit 1
fi

cat >"$T/app.c" <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <refbus_node.h>

static void *ctx;
static char ep[600];

/* A stand-in for the daemon's control socket: one good answer, then one refusal. */
static void *daemon_side(void *rep)
{
    const char *answers[] = {"{\"ok\":true,\"agency\":\"test.agency\"}",
                             "{\"ok\":false,\"error\":\"EPOLICY\",\"code\":-42,"
                             "\"message\":\"not allowed here\"}"};
    char buf[4096];
    for (int i = 0; i < 2; i++) {
        if (zmq_recv(rep, buf, sizeof buf, 0) < 0)
            return NULL;
        zmq_send(rep, answers[i], strlen(answers[i]), 0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    pthread_t th;
    if (argc != 2)
        return 2;
    snprintf(ep, sizeof ep, "ipc://%s/control.sock", argv[1]);
    ctx = zmq_ctx_new();
    void *rep = zmq_socket(ctx, ZMQ_REP);
    if (zmq_bind(rep, ep) != 0 || pthread_create(&th, NULL, daemon_side, rep) != 0)
        return 3;
    if (refbus_node_open_endpoint(&n, ep) != 0)
        return 4;
    refbus_node_set_timeout(n, 5000);
    if (refbus_node_status(n, &reply) != 0 || !strstr(reply, "test.agency"))
        return 5;
    free(reply);
    reply = NULL;
    int rc = refbus_node_status(n, &reply);
    if (rc != -42 || strcmp(refbus_node_last_error(n), "not allowed here") != 0)
        return 6;
    free(reply);
    refbus_node_close(&n);
    if (n != NULL)
        return 7;
    pthread_join(th, NULL);
    zmq_close(rep);
    zmq_ctx_term(ctx);
    char missing[700];
    snprintf(missing, sizeof missing, "ipc://%s/none.sock", argv[1]);
    if (refbus_node_open_endpoint(&n, missing) != REFBUS_EUNAVAILABLE)
        return 8;
    printf("ok: %s\n", refbus_strerror(REFBUS_EUNAVAILABLE));
    return 0;
}
EOF
export PKG_CONFIG_PATH="$(dirname "$PC")"
# shellcheck disable=SC2046
# shellcheck disable=SC2086 # REFBUS_CLIENT_CFLAGS: the sanitizer flags of a sanitizer build
"$CC" -std=c11 -Wall -Werror ${REFBUS_CLIENT_CFLAGS:-} -o "$T/app" "$T/app.c" \
    $(pkg-config --cflags --libs refbus-node) -lpthread \
    2>"$T/cc.log" || { cat "$T/cc.log" >&2; echo "FAIL: cannot build against the install" >&2; exit 1; }
out=$(timeout 30 "$T/app" "$T") || { echo "FAIL: the installed API misbehaved (exit $?)" >&2; exit 1; }
echo "$out"
echo "ok: the node C API builds and works from an install"
