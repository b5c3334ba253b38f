"""``make bench``: the service measured against ceilings on the same machine, in one run.

It drives the service from outside, as its users do: ``scripts/run`` (what ``make run`` runs) on
ports, a Redis database and topics of the bench's own, loaded over HTTP by wrk and by an open-loop
generator, and read back from Kafka. Nothing here imports the service's code, so the same bench
can measure another checkout of it (``--service-root``).
"""
