using TStitch.Hosting;
using TStitch.Orchestration;

// Generate -> validate -> job store -> trajectory over the denoiser pools -> result. See appsettings.json.
HealthProbe.RunIfRequested(args); // `Orchestrator --health-probe`: container health check
OrchestratorApp.Create(args).Run();
