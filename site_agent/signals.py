"""Signals site_agent sends, and receivers of other apps' signals.

Receivers are thin: they turn an event into webhook deliveries (sent after commit).
"""

from django.dispatch import Signal, receiver

from marketplace_ai.models import DocumentStatus
from marketplace_ai.signals import document_status_changed
from site_agent.models import CustomerAgentConfig
from site_agent.services.webhooks import WebhookEvent, webhook_emit

# Sent inside the transaction that moves a buyer config to another agent version (`config_change_version`),
# with `config_id` and `version_id`. runtime_bridge redeploys the config's runtime flow after commit;
# site_agent itself never talks to the runtime.
config_version_changed = Signal()

DOCUMENT_EVENTS = {
    DocumentStatus.INDEXED: WebhookEvent.DOCUMENT_INDEXED,
    DocumentStatus.FAILED: WebhookEvent.DOCUMENT_FAILED,
}


@receiver(document_status_changed, dispatch_uid="site_agent.document_webhooks")
def document_webhooks(sender, document, status, **kwargs) -> None:
    event = DOCUMENT_EVENTS.get(status)
    if event is None:
        return
    config = CustomerAgentConfig.objects.filter(knowledge_base_id=document.knowledge_base_id).first()
    if config is None:
        return
    webhook_emit(
        config=config,
        event=event,
        payload={
            "document": {
                "uuid": str(document.uuid),
                "name": document.name,
                "source": document.source,
                "status": document.status,
                "chunk_count": document.chunk_count,
                "error_message": document.error_message,
            }
        },
    )
