"""What the app asks of its PostgreSQL connections (settings: DB_PREPARED_STATEMENTS, DB_JIT)."""

import pytest
from django.db import connection

from incidents.models import SecurityIncident

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_a_statement_repeated_in_a_connection_is_prepared_on_the_server():
    # After five executions in a connection a statement is prepared; later ones reuse it.
    for _ in range(6):
        list(SecurityIncident.objects.filter(number="SIR0000001"))

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert [s for s in prepared if '"incidents_securityincident"."number" = $1' in s]


def test_the_connection_does_not_compile_queries_just_in_time():
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
