"""The crawler: a Scrapy project whose `site` spider crawls one domain per job."""
