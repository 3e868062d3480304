"""The sqlite3 JSON API with the usual guard: every error answers a JSON 500 (the response is
made inside a ``try`` whose handler catches anything, ``start_response(..., sys.exc_info())``)."""
import json
import os
import sqlite3
import sys

DATABASE = os.environ.get("BENCH_DATABASE", "bench.sqlite3")


def app(environ, start_response):
    conn = sqlite3.connect(DATABASE)
    try:
        category = environ.get("QUERY_STRING") or "tools"
        rows = conn.execute(
            "SELECT id, name, price FROM items WHERE category = ? ORDER BY price DESC LIMIT 20",
            (category,),
        ).fetchall()
        items = [{"id": r[0], "name": r[1], "price": r[2]} for r in rows]
        body = json.dumps({"count": len(items), "items": items}).encode("utf-8")
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
    except Exception as exc:
        body = json.dumps({"error": type(exc).__name__}).encode("utf-8")
        start_response("500 Internal Server Error", [("Content-Type", "application/json")], sys.exc_info())
        return [body]
    finally:
        conn.close()
