"""A Falcon resource on sqlite3 through a module helper: a connection per request, one query."""
import os
import sqlite3

import falcon

DATABASE = os.environ.get("BENCH_DATABASE", "bench.sqlite3")


def query(sql, args=()):
    conn = sqlite3.connect(DATABASE)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


class Items:
    def on_get(self, req, resp):
        category = req.get_param("category", default="tools")
        rows = query(
            "SELECT id, name, price FROM items WHERE category = ? ORDER BY price DESC LIMIT 20",
            (category,),
        )
        resp.media = {"count": len(rows), "items": [{"id": r[0], "name": r[1], "price": r[2]} for r in rows]}


app = falcon.App()
app.add_route("/", Items())
