"""A Falcon JSON endpoint: a query parameter, a small document built in the responder."""
import falcon


class Status:
    def on_get(self, req, resp):
        limit = req.get_param_as_int("limit", default=5)
        resp.media = {
            "service": "inventory",
            "ok": True,
            "items": [{"id": i, "name": "item %d" % i} for i in range(limit)],
        }


app = falcon.App()
app.add_route("/", Status())
