import AetherCLI

AetherMain.main()
