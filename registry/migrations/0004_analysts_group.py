"""The "Analysts" group: staff in it see every page of the registry admin and change nothing."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP_NAME = "Analysts"


def analysts_group_create(apps, schema_editor):
    # Permissions are normally created after `migrate` finishes (post_migrate); this migration
    # needs them now. The migration state's app config has no models module, which
    # create_permissions takes for "no models": mark it for the call.
    app_config = apps.get_app_config("registry")
    app_config.models_module = True
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    finally:
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=GROUP_NAME)
    view_permissions = Permission.objects.using(schema_editor.connection.alias).filter(
        content_type__app_label="registry", codename__startswith="view_"
    )
    group.permissions.add(*view_permissions)


def analysts_group_delete(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=GROUP_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_name_validators"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(analysts_group_create, analysts_group_delete),
    ]
