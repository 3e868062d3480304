"""A JSON API on sqlite3 through a module helper: a connection per request, one query."""
import json
import os
import sqlite3

DATABASE = os.environ.get("BENCH_DATABASE", "bench.sqlite3")


def query(sql, args=()):
    conn = sqlite3.connect(DATABASE)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def app(environ, start_response):
    rows = query(
        "SELECT id, name, price FROM items WHERE category = ? ORDER BY price DESC LIMIT 20",
        ("tools",),
    )
    items = [{"id": r[0], "name": r[1], "price": r[2]} for r in rows]
    body = json.dumps({"count": len(items), "items": items}).encode("utf-8")
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
