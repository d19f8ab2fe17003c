from crossposter.cli import main

raise SystemExit(main())
