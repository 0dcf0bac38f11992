"""A site that, like most, redirects to /login and links and fetches by absolute paths: it works
only where it is served at the root of its own host."""

import ketch

app = ketch.App("hosts")

LOGIN = """<!doctype html><html><body><h1>sign in</h1>
<a id="account" href="/account">your account</a><p id="who">?</p>
<script>
fetch("/api/me").then(r => r.json()).then(me => {
  document.getElementById("who").textContent = "asked " + me.host + " for " + me.path;
});
</script></body></html>"""


@app.function()
@ketch.asgi_app(label="signin-site")
def site():
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
    from starlette.routing import Route

    async def home(request):
        return RedirectResponse("/login", status_code=303)

    async def login(request):
        return HTMLResponse(LOGIN)

    async def me(request):
        return JSONResponse({"host": request.headers["host"], "path": request.url.path})

    async def account(request):
        return HTMLResponse(f"<p id='page'>the account page, at {request.url.path}</p>")

    return Starlette(routes=[Route("/", home), Route("/login", login), Route("/api/me", me),
                             Route("/account", account)])
