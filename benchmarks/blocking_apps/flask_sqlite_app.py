"""A Flask view on sqlite3 through a module helper: a connection per request, one query."""
import os
import sqlite3

from flask import Flask, jsonify, request

DATABASE = os.environ.get("BENCH_DATABASE", "bench.sqlite3")
app = Flask(__name__)


def query(sql, args=()):
    conn = sqlite3.connect(DATABASE)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@app.get("/")
def items():
    category = request.args.get("category", "tools")
    rows = query(
        "SELECT id, name, price FROM items WHERE category = ? ORDER BY price DESC LIMIT 20",
        (category,),
    )
    return jsonify(count=len(rows), items=[{"id": r[0], "name": r[1], "price": r[2]} for r in rows])
