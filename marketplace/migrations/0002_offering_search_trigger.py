"""Keep Offering.search_vector current on every write, bulk ones included, with a database trigger.

Weights: name A, summary and tags B, description C.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION marketplace_offering_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('english', coalesce(NEW.name, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(NEW.summary, '') || ' ' ||
                                         array_to_string(coalesce(NEW.tags, '{}'), ' ')), 'B') ||
        setweight(to_tsvector('english', coalesce(NEW.description, '')), 'C');
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER marketplace_offering_search_vector_update
    BEFORE INSERT OR UPDATE OF name, summary, tags, description ON marketplace_offering
    FOR EACH ROW EXECUTE FUNCTION marketplace_offering_search_vector();
"""

DROP = """
DROP TRIGGER IF EXISTS marketplace_offering_search_vector_update ON marketplace_offering;
DROP FUNCTION IF EXISTS marketplace_offering_search_vector();
"""


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
