# A plain script step (`- script: scripts/windows/disable-smb1.ps1`): run as it is, as
# SYSTEM, by a managed run command. SMBv1 off in the image, so every clone starts without it.
$ErrorActionPreference = 'Stop'
Set-SmbServerConfiguration -EnableSMB1Protocol $false -Force
$feature = Get-WindowsOptionalFeature -Online -FeatureName SMB1Protocol
if ($feature.State -eq 'Enabled') {
    Disable-WindowsOptionalFeature -Online -FeatureName SMB1Protocol -NoRestart | Out-Null
}
