"""The web administration and the HTTP API, on the service layer the CLI uses.

Cisco Unified OS Administration's and CM Administration's pages (their
names and habits, ``../shared/spec/web-pages.md``) rendered on the server
with Jinja2, htmx for what JavaScript makes nicer (every form works
without it), and JSON under ``/api/v1`` with the same service calls. Served
over HTTPS only, with the node's ``tomcat`` certificate, by ``phonetrust
web`` and by ``phonetrust serve`` on the node's HTTPS port.
"""
