ALTER TABLE "posts" ADD "views" integer DEFAULT 0 NOT NULL;
