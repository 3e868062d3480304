"""A Flask JSON endpoint: a query parameter, a small document built in the view."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def status():
    limit = request.args.get("limit", 5, type=int)
    return jsonify(service="inventory", ok=True,
                   items=[{"id": i, "name": "item %d" % i} for i in range(limit)])
