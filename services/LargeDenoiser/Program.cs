using TStitch.Denoising;
using TStitch.Hosting;

// The large pool: the shared denoiser host with this folder's appsettings.json.
HealthProbe.RunIfRequested(args); // `LargeDenoiser --health-probe`: container health check
DenoiserHost.Create(args, "large-denoiser").Run();
