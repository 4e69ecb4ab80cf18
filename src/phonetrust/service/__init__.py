"""The application API: use cases over the store, audit, alerts, and the TFTP file plan.

The CLI, the admin shell, the web UI and the servers all go through here;
none of them holds a business rule.
"""
