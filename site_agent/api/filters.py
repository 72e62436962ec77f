import django_filters

from site_agent.models import ConfigState, CustomerAgentConfig


class ConfigFilter(django_filters.FilterSet):
    organization_uuid = django_filters.UUIDFilter(field_name="organization__uuid")
    offering_uuid = django_filters.UUIDFilter(field_name="resource__offering__uuid")
    state = django_filters.ChoiceFilter(choices=ConfigState.choices)

    class Meta:
        model = CustomerAgentConfig
        fields = ["organization_uuid", "offering_uuid", "state"]
