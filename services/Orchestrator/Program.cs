using TStitch.Orchestration;

// Generate -> validate -> job store -> trajectory over the denoiser pools -> result. See appsettings.json.
OrchestratorApp.Create(args).Run();
