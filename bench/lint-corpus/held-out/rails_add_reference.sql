ALTER TABLE "comments" ADD "post_id" bigint;
CREATE INDEX "index_comments_on_post_id" ON "comments" ("post_id");
