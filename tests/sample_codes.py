"""Made-up codes in the shapes services issue them, shared by the tests (no real account)."""

GITHUB = ["d1371-c1714", "9d439-536b3", "216fd-aeeb9", "75729-fae92", "3d5a4-fd12a",
          "abfe2-28f21", "9e9cb-0eb53", "f1694-7ccf2", "5ec84-d8dbc", "74254-770f5",
          "8904d-ba41e", "cccc3-fc162", "6e53a-13043", "b026c-48bbf", "33fef-f9243",
          "a8f50-6b409"]
GOOGLE = ["5305 2471", "6468 0791", "1186 8779", "1542 5991", "9548 0950", "8313 3517",
          "0614 1408", "7104 6851", "1144 3943", "1486 9028"]
DISCORD = ["tbic-145a", "ez73-2pgo", "jj7g-3f9c", "aioc-tiq7", "1hge-t7my", "qoaa-8t3r",
           "up47-p9pb", "0tdb-m50f", "qo1x-o5cv", "0xzm-as6e"]
