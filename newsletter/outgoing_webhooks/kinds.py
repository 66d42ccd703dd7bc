"""The webhook event types, and the subscriber-log kinds they come from (import-light)."""

#: Subscriber event-log kind (``subscribers.events.EventKind``) → webhook event type.
FROM_SUBSCRIBER_EVENT = {
    "subscribed": "subscriber.created",
    "confirmed": "subscriber.confirmed",
    "unsubscribed": "subscriber.unsubscribed",
    "bounced": "subscriber.bounced",
    "complained": "subscriber.complained",
    "erased": "subscriber.erased",
}
SEND_STARTED = "send.started"
SEND_FINISHED = "send.finished"
EVENT_TYPES = (*FROM_SUBSCRIBER_EVENT.values(), SEND_STARTED, SEND_FINISHED)
