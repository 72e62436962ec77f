from django.http import Http404

from site_agent.models import CustomerAgentConfig
from site_agent.selectors import config_list_for_user


def widget_config_get_for_user(*, user, widget_id: str) -> CustomerAgentConfig:
    """The config behind a widget id, for members of its organisation (and operators); else a 404."""
    config = config_list_for_user(user=user).filter(widget_id=widget_id).first()
    if config is None:
        raise Http404
    return config
