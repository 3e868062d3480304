"""Page bodies for tiny_site."""

import html

LAYOUT = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><h1>{title}</h1>{content}<footer>© 2024 Bäckerei Müller</footer></body></html>
"""

PAGES = {
    "/": ("Willkommen", "<p>Frische Brötchen jeden Morgen ab 6 Uhr.</p>"),
    "/about": ("Über uns", "<p>Seit 1987 in der Altstadt.</p>"),
}


def render(title, content):
    return LAYOUT.format(title=html.escape(title), content=content).encode("utf-8")


def greeting(name):
    return render("Hallo", f"<p>Hallo, {html.escape(name)}!</p>")
