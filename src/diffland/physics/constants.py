"""Physical constants of Noah-MP (``ConstantDefineMod``), SI units.

Names follow the Noah-MP v5 refactored code (``Const*``) with short aliases used in
the physics modules.
"""

GRAV = 9.80616  # acceleration due to gravity [m s-2]
SB = 5.67e-08  # Stefan-Boltzmann constant [W m-2 K-4]
VKC = 0.40  # von Karman constant [-]
TFRZ = 273.16  # freezing/melting point [K]
HSUB = 2.8440e06  # latent heat of sublimation [J kg-1]
HVAP = 2.5104e06  # latent heat of vaporization [J kg-1]
HFUS = 0.3336e06  # latent heat of fusion [J kg-1]
CWAT = 4.188e06  # volumetric heat capacity of water [J m-3 K-1]
CICE = 2.094e06  # volumetric heat capacity of ice [J m-3 K-1]
CPAIR = 1004.64  # specific heat of dry air [J kg-1 K-1]
TKWAT = 0.57  # thermal conductivity of water [W m-1 K-1]
TKICE = 2.2  # thermal conductivity of ice [W m-1 K-1]
TKAIR = 0.023  # thermal conductivity of air [W m-1 K-1]
TKQTZ = 7.7  # thermal conductivity of quartz [W m-1 K-1]
TKOTH = 2.0  # thermal conductivity of other soil minerals [W m-1 K-1]
RAIR = 287.04  # gas constant of dry air [J kg-1 K-1]
RW = 461.269  # gas constant of water vapour [J kg-1 K-1]
DENH2O = 1000.0  # density of water [kg m-3]
DENICE = 917.0  # density of ice [kg m-3]
PI = 3.14159265  # pi as Noah-MP defines it
