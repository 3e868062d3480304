"""Rule ``deployment``: the files that start the project start the migrated app.

A run rewrites the Python code and then, knowing what each module's apps became, the
deployment files of the tree (see :mod:`.formats` for which and where): each command that
starts a WSGI server on an app the run made ASGI starts an ASGI server on it (:mod:`.targets`),
the project's requirements gain what the migrated project imports (:mod:`.requirements`),
a gunicorn config file gets uvicorn workers (:mod:`.gunicorn_config`), a PasteDeploy file's
server becomes uvicorn (:mod:`.paste_ini`) and a uWSGI ini file keeps a WSGI app to serve
(:mod:`.uwsgi_ini`). A command serving an
app that stays WSGI, or that cannot be read with certainty, stays as it is with a marker.

The Python rules never see these files: :class:`DeploymentRule` only names the rule (for
``--select``/``--ignore``/``--list-rules``); :func:`migrate.rules.deployment.run.migrate_deployment`
does the work once the Python files are done.
"""

from __future__ import annotations

from migrate.rules.base import Rule

#: The rule's id in reports and markers (``# migrate[deployment]: ...``), for every module
#: of the package.
RULE = "deployment"
MARKER = f"migrate[{RULE}]:"


def ini_marker(message: str, newline: str) -> str:
    """The marker line an ini file gets above what it says of (the message on one line)."""
    return f"# {MARKER} {' '.join(message.split())}{newline}"


class DeploymentRule(Rule):
    rule_id = RULE
    summary = (
        "Procfiles, Dockerfiles, compose files, Kubernetes manifests, systemd and supervisord "
        "units, scripts, Makefiles, gunicorn configs and requirements start the migrated app "
        "with an ASGI server (gunicorn with uvicorn workers where gunicorn ran, else uvicorn; "
        "--server picks another)."
    )

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return False  # no Python module: the deployment files are done after the run
