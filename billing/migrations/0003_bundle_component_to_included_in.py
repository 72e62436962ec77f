"""A subscription a bundle includes now points at the bundle subscription itself (Resource.included_in), so
the BundleComponent rows that recorded it are copied there and the table goes."""

from django.db import migrations


def components_to_included_in(apps, schema_editor):
    BundleComponent = apps.get_model("billing", "BundleComponent")
    Resource = apps.get_model("marketplace", "Resource")
    links = BundleComponent.objects.values_list("resource_id", "bundle_resource_id")
    for resource_id, bundle_resource_id in links:
        Resource.objects.filter(pk=resource_id).update(included_in_id=bundle_resource_id)


def included_in_to_components(apps, schema_editor):
    BundleComponent = apps.get_model("billing", "BundleComponent")
    BundleItem = apps.get_model("billing", "BundleItem")
    Resource = apps.get_model("marketplace", "Resource")
    for resource in Resource.objects.filter(included_in__isnull=False).select_related("included_in"):
        item = BundleItem.objects.filter(
            bundle__offering_id=resource.included_in.offering_id, offering_id=resource.offering_id
        ).first()
        if item is not None:
            BundleComponent.objects.get_or_create(
                resource_id=resource.pk,
                defaults={"bundle_resource_id": resource.included_in_id, "item": item},
            )


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0002_bundles_and_duplicates"),
        ("marketplace", "0006_resource_included_in"),
    ]

    operations = [
        migrations.RunPython(components_to_included_in, included_in_to_components),
        migrations.DeleteModel(name="BundleComponent"),
    ]
