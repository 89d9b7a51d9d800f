"""``dlq``: look at dead letters, replay them to the consumer that failed, or drop them.

``model``: what a dead letter says and which ones an operator selected (no I/O);
``broker``: reading a queue without costing a message; ``service``: list / show / replay / purge;
``cli``: the ``event-contracts dlq`` command line.
"""
