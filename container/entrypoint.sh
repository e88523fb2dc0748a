#!/bin/sh
# The image's commands: `web` (the default) serves the site with gunicorn, `qcluster` runs
# a task worker, `migrate` brings the database schema up to date, installs the shipped
# runbooks that are absent and exits, `manage ARGS` runs any other manage.py command.
# Anything else runs as given (e.g. `sh`).
set -eu
cd /app

case "${1:-web}" in
    web)
        # Workers: WEB_CONCURRENCY (gunicorn reads it); more options: GUNICORN_CMD_ARGS.
        # No access log: the answer links carry their token in the path. The heartbeat
        # files in memory, since a container's disk may stall a worker into a timeout. No
        # control socket: the container is run by signals, and /app is read-only to us.
        exec gunicorn soc.wsgi --bind "0.0.0.0:${PORT:-8000}" --worker-tmp-dir /dev/shm \
            --no-control-socket
        ;;
    qcluster)
        exec python3 manage.py qcluster
        ;;
    migrate)
        # The schema, then the shipped runbooks that are absent: never one that exists,
        # so an author's edits survive every upgrade.
        python3 manage.py migrate --noinput
        exec python3 manage.py runbooks install
        ;;
    manage)
        shift
        exec python3 manage.py "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
