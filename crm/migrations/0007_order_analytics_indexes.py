# Covering indexes for analytics on orders (bench scenario 4): the new ones are built before the
# ones they replace are dropped, so order lookups keep an index throughout the migration.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0006_imports_merge_and_contact_external_id'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='order',
            index=models.Index(fields=['contact', 'ordered_at'], include=('amount', 'account'), name='crm_order_contact_time'),
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(fields=['account', 'ordered_at'], include=('amount',), name='crm_order_account_time'),
        ),
        migrations.RemoveIndex(
            model_name='order',
            name='crm_order_contact_544c2d_idx',
        ),
        migrations.RemoveIndex(
            model_name='order',
            name='crm_order_account_6d6647_idx',
        ),
    ]
