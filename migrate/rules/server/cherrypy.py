"""CherryPy's ``quickstart(root, script_name, config)`` serves on uvicorn::

    # before                                  # after
    if __name__ == "__main__":                if __name__ == "__main__":
        cherrypy.quickstart(Root(), "", conf)     cherrypy.config.update(conf)
                                                  cherrypy.tree.mount(Root(), "", conf)
                                                  cherrypy.server.unsubscribe()
                                                  cherrypy.engine.signals.subscribe()
                                                  cherrypy.engine.start()
                                                  try:
                                                      uvicorn.run(WsgiToAsgi(cherrypy.tree, ...),
                                                                  host=cherrypy.server.socket_host,
                                                                  port=cherrypy.server.socket_port, ...)
                                                  finally:
                                                      cherrypy.engine.exit()

``quickstart`` did the same steps: the config's global entries into the site-wide config, the
root mounted on CherryPy's tree (the WSGI app dispatching to every mounted app), the engine
started (its plugins: the autoreloader, the session cleanup) with CherryPy's signal
handlers, then its own HTTP server (cheroot) serving until a signal. Here uvicorn serves the
tree through the adapter in cheroot's place, which is unsubscribed from the engine, and the
engine stops when uvicorn does: uvicorn hands the SIGTERM it caught on to the handler it
found, CherryPy's, which stops the engine as before (SIGHUP still restarts it). Where cheroot would have listened is read from CherryPy's own settings when the server
starts (``server.socket_host``/``socket_port``/``socket_file``, ``ssl_certificate``/
``ssl_private_key``, ``max_request_body_size``), so every way of setting them
(``cherrypy.config.update``, the config's ``[global]`` section, a config file) still counts.
CherryPy writes its own ``Server`` and ``Date`` headers, so uvicorn adds none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import libcst as cst

#: What serves an app on CherryPy's own server.
QUICKSTART = frozenset({"cherrypy.quickstart"})
#: ``quickstart``'s parameters in order.
PARAMS = ("root", "script_name", "config")


class CherryPyProblem(Exception):
    """Why a ``quickstart`` call cannot move to uvicorn with certainty."""


def statements(
    args: Mapping[str, cst.BaseExpression],
    module: str,
    code: Callable[[cst.CSTNode], str],
    indent: str,
) -> tuple[list[str], str, str]:
    """``(statements before, the uvicorn.run call, the statement after it)`` that do what
    ``quickstart(**args)`` did; ``module``: how the module spells ``cherrypy``; ``indent``:
    one level of the module's indentation (the call's arguments are one level in)."""
    unknown = sorted(set(args) - set(PARAMS))
    if unknown:
        raise CherryPyProblem(
            f"quickstart() gets arguments it does not take ({', '.join(unknown)})"
        )
    root = args.get("root")
    if root is None or (isinstance(root, cst.Name) and root.value == "None"):
        raise CherryPyProblem("quickstart() mounts no root: check what it serves")
    script_name = code(args["script_name"]) if "script_name" in args else '""'
    config = args.get("config")
    before: list[str] = []
    if config is not None:
        # quickstart put a config's [global] entries into the site-wide config, if given
        update = f"{module}.config.update({code(config)})"
        before.append(update if _given(config) else f"if {code(config)}:\n    {update}")
    mount = [code(root), script_name] + ([code(config)] if config is not None else [])
    before += [
        f"{module}.tree.mount({', '.join(mount)})",
        f"{module}.server.unsubscribe()  # uvicorn serves the tree in cheroot's place",
        f"{module}.engine.signals.subscribe()",
        f"{module}.engine.start()",
    ]
    server = f"{module}.server"
    arguments = [
        f"WsgiToAsgi({module}.tree, max_body_size={server}.max_request_body_size or None)",
        f"host={server}.socket_host",
        f"port={server}.socket_port",
        f"uds={server}.socket_file",
        f"ssl_certfile={server}.ssl_certificate",
        f"ssl_keyfile={server}.ssl_private_key",
        "server_header=False",
        "date_header=False",
    ]
    # (libcst puts the indentation of the block the call is in before each line)
    run = "uvicorn.run(\n" + "".join(f"{indent}{a},\n" for a in arguments) + ")"
    return before, run, f"{module}.engine.exit()"


def _given(config: cst.BaseExpression) -> bool:
    """A config certainly given (a literal dict or string, not empty): quickstart skipped
    an empty one, and one a name holds may be."""
    return isinstance(config, (cst.Dict, cst.SimpleString, cst.ConcatenatedString)) and not (
        isinstance(config, cst.Dict) and not config.elements
    )
