from wardgate.server.run import main

raise SystemExit(main())
