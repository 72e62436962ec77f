"""Keep Chunk.search_vector current on insert and update with a database trigger (bulk inserts included)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION marketplace_ai_chunk_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_vector := to_tsvector('english', coalesce(NEW.text, ''));
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER marketplace_ai_chunk_search_vector_update
    BEFORE INSERT OR UPDATE OF text ON marketplace_ai_chunk
    FOR EACH ROW EXECUTE FUNCTION marketplace_ai_chunk_search_vector();
"""

DROP = """
DROP TRIGGER IF EXISTS marketplace_ai_chunk_search_vector_update ON marketplace_ai_chunk;
DROP FUNCTION IF EXISTS marketplace_ai_chunk_search_vector();
"""


class Migration(migrations.Migration):
    dependencies = [("marketplace_ai", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
