"""Where an inbound webhook post spends its time: cProfile around Django's WSGI handler,
in this process, with the benchmark's settings and database (no server, no network).

    uv run python bench/profile_ingest.py [--size 20KB|2MB|25MB] [--count 50] [--provider ...]
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import payloads
from bench.common import DEFAULT_DATABASE_URL, Environment, create_database, sql_query

SIZES = {"20KB": 20 * 1024, "2MB": 2 * 1024 * 1024, "25MB": 25 * 1024 * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="20KB")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument(
        "--provider", choices=["postmark", "postmark-parsed", "mailgun"], default="postmark"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--conn-max-age", type=int, default=60, help="DB_CONN_MAX_AGE")
    args = parser.parse_args()

    extra = {"INBOUND_MAX_BYTES": str(80 * 1024 * 1024), "DB_CONN_MAX_AGE": str(args.conn_max_age)}
    env = Environment(args.database_url, extra=extra)
    create_database(args.database_url)
    env.manage("migrate", "--noinput")
    sql_query(args.database_url, "TRUNCATE mailflow_inboundemail, django_q_ormq RESTART IDENTITY")
    os.environ.update(env.variables())

    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    size = SIZES[args.size]
    raw = payloads.reply_mime() if size < 100_000 else payloads.reply_with_attachment(size)
    if args.provider == "mailgun":
        template = payloads.mailgun(raw, signing_key=env.mailgun_signing_key)
    else:
        template = payloads.postmark(raw, with_raw=args.provider == "postmark")

    def post(number: int) -> str:
        body = template.render(number)
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": template.path,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1",
            "CONTENT_TYPE": template.content_type,
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_AUTHORIZATION": env.auth_header(),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
        }
        statuses: list[str] = []
        b"".join(application(environ, lambda status, headers: statuses.append(status)))
        return statuses[0]

    print(post(10**6))  # imports, first connection
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    statuses = [post(n) for n in range(args.count)]
    profiler.disable()
    elapsed = time.perf_counter() - began
    print(f"{args.count} posts, {elapsed / args.count * 1000:.1f} ms each, {set(statuses)}")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(args.lines)
    stats.sort_stats("tottime").print_stats(args.lines)
    env.cleanup()


if __name__ == "__main__":
    main()
