DROP INDEX IF EXISTS "index_posts_on_published_at";
