"""anymail's inbound and tracking signals: store the event, enqueue the work, nothing else.
(Filled in with the webhook issues.)"""
