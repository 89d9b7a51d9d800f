"""billing-service: the shop platform's general ledger, fed by order events over RabbitMQ."""
