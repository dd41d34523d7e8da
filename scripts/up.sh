#!/bin/bash
# up.sh: build Sukima and its example functions, then run a local cloud
# (`sukima up`: nats-server, gateway on 127.0.0.1:8080, workers).
#
#   scripts/up.sh [sukima up options: --workers N --data DIR --port P ...]
#
# Data (NATS config, JetStream store, logs, artifact cache) goes to
# ${XDG_DATA_HOME:-$HOME/.local/share}/sukima unless --data says otherwise.
set -eu
cd "$(dirname "$0")/.."
B=${SUKIMA_BUILD:-build}
make -s -j"$(nproc)" O="$B" all examples
exec "$B/sukima" up "$@"
