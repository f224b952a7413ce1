"""The one nginx configuration of the bench: every server the bench starts is written from here.

Three parts serve sites with nginx: the synthetic site of the crawl part (bench/server.py), the
real trees and the many-jobs sites (bench/vhosts.py, several server blocks in one nginx) and the
CPU-per-page profile (bench/profile_real.py). They differ only in what `Site` says (path prefix,
access log, gzip, a slow origin); the process settings are the same for all.

A *slow origin* (`Site.delay`) holds every page answer 50–300 ms before nginx sends it, as a CMS
page without cache takes: nginx's JavaScript module (njs, Debian's libnginx-mod-http-js) sets a
timer and, when it fires, hands the request to a named location that serves the file. A timer in
nginx's event loop costs no CPU while it waits, so the origin adds latency and not load. The hold
of each URI is fixed by a hash of it (`slow_origin.js`; `hold_ms` here is the same function), so
every tool and every run meets the same latencies and the bench can compute the ideal crawl from
them. Only pages are held (URIs ending in `/` or `.html`); robots.txt, sitemaps and other files
answer at once, as a CMS's static files would.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

JS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")
JS_SCRIPT = Path(__file__).resolve().parent / "slow_origin.js"
HOLD_MIN_MS, HOLD_SPAN_MS = 50, 251  # a hold is 50 + (hash % 251): 50–300 ms, mean ~175

CONF = """\
{load_js}worker_processes 1;
user root;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    access_log off;
    log_format bench {log_format};
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{js}{servers}
}}
"""

# --gzip of bench/profile_real.py: every text response gzip-encoded, as most real servers send pages.
GZIP = """\
        gzip on;
        gzip_min_length 0;
        gzip_types text/css application/javascript application/xml text/xml text/plain;
"""


@dataclass
class Site:
    """One server block: `root` served on 127.0.0.1:`port`, at URL path `prefix` ("" = at /)."""

    port: int
    root: Path
    prefix: str = ""  # "/usr/share/doc/x/html/": `/` redirects there and anything else is a 404
    access_log: Path | None = None  # None: no log (a log line per request costs the server CPU)
    gzip: bool = False
    delay: bool = False  # a slow origin: every page held 50–300 ms (module docstring)


def hold_ms(uri: str) -> int:
    """How long the slow origin holds `uri` (`$request_uri`): FNV-1a over its UTF-8 bytes, as
    slow_origin.js computes it. 0 for what is not a page."""
    path = uri.split("?", 1)[0]
    if not (path.endswith("/") or path.endswith(".html")):
        return 0
    value = 0x811C9DC5
    for byte in uri.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return HOLD_MIN_MS + value % HOLD_SPAN_MS


def server_block(site: Site) -> str:
    root = site.root.resolve()
    prefix = site.prefix or "/"
    lines = ["    server {", f"        listen 127.0.0.1:{site.port};"]
    if site.access_log is not None:
        lines.append(f"        access_log {site.access_log} bench;")
    lines += ["        index index.html;", "        autoindex off;", "        add_header X-Cache-Status HIT always;"]
    if site.gzip:
        lines.append(GZIP.rstrip("\n"))
    if site.prefix:
        lines.append(f"        location = / {{ return 302 {site.prefix}; }}")
        lines.append("        location / { return 404; }")
    hold = " location ~ (/|\\.html)$ { js_content slow_origin.hold; }" if site.delay else ""
    lines.append(f"        location {prefix} {{ alias {root}/;{hold} }}")
    if site.delay:
        # Where slow_origin.js sends a page once its hold is over: the same file, not reachable
        # from outside (`internal`); the access log still shows the URI that was asked for.
        lines.append(f"        location /__held{prefix} {{ internal; alias {root}/; }}")
    lines.append("    }")
    return "\n".join(lines) + "\n"


def require_js_module(sites: list[Site]) -> None:
    """Before nginx starts (not in `render`, whose text the unit tests check on any machine): a slow
    origin needs njs, which `make bench` installs."""
    if any(site.delay for site in sites) and not JS_MODULE.exists():
        raise RuntimeError(f"a slow origin needs nginx's js module ({JS_MODULE}): "
                           "apt-get install -y libnginx-mod-http-js (make bench does when root)")


def render(tmp: Path, sites: list[Site], log_format: str = "''") -> str:
    """The whole nginx.conf for `sites`, with its pid, logs and temporary files under `tmp`."""
    delayed = any(site.delay for site in sites)
    return CONF.format(
        tmp=tmp,
        log_format=log_format,
        load_js=f"load_module {JS_MODULE};\n" if delayed else "",
        js=f"    js_import slow_origin from {JS_SCRIPT};\n" if delayed else "",
        servers="".join(server_block(site) for site in sites),
    )
